import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "uplot/dist/uPlot.min.css";
import "./styles/app.css";
import { App } from "./App";
import { setupI18n } from "./i18n";
import { applyTheme, storedTheme } from "./theme";

applyTheme(storedTheme());
setupI18n();

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
