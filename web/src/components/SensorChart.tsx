/**
 * A sensor's readings as a uPlot line chart. The chart object is made once per mount and fed
 * new data in place; its width follows its container.
 */

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import type { Reading } from "../api/types";
import { toChartColumns } from "../data/readings";

interface Props {
  readings: readonly Reading[];
  unit: string;
  label: string;
  height?: number;
}

const STROKE = "#2563eb";
const FILL = "rgba(37, 99, 235, 0.08)";

function options(width: number, height: number, label: string, unit: string): uPlot.Options {
  return {
    width,
    height,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [
      { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" } },
      {
        stroke: "#64748b",
        grid: { stroke: "#eef2f7" },
        ticks: { stroke: "#e2e8f0" },
        space: 24,
        values: (_u, splits) => splits.map((v) => `${v}${unit ? ` ${unit}` : ""}`),
        // Wide enough for the longest tick label ("1018.25 hPa"); uPlot's default cuts it.
        size: (_u, values) => Math.max(40, Math.max(0, ...(values ?? []).map((v) => v.length)) * 7 + 18),
      },
    ],
    series: [{}, { label, stroke: STROKE, fill: FILL, width: 1.5, spanGaps: false, points: { show: false } }],
  };
}

export function SensorChart({ readings, unit, label, height = 160 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const data = toChartColumns(readings);

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const plot = new uPlot(options(element.clientWidth || 400, height, label, unit), [[], []], element);
    chart.current = plot;
    const observer = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
      chart.current = null;
    };
  }, [height, label, unit]);

  useEffect(() => {
    chart.current?.setData(data);
  });

  return <div ref={box} className="chart" data-testid="sensor-chart" data-points={data[0].length} />;
}
