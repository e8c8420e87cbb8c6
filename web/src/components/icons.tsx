/** The few line icons the dashboard uses, drawn inline so they follow the text colour. */

const common = {
  width: 16,
  height: 16,
  viewBox: "0 0 24 24",
  fill: "none",
  stroke: "currentColor",
  strokeWidth: 2,
  strokeLinecap: "round" as const,
  strokeLinejoin: "round" as const,
  "aria-hidden": true,
};

export const ShieldIcon = () => (
  <svg {...common}>
    <path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z" />
  </svg>
);

export const SpinnerIcon = () => (
  <svg {...common} className="spin">
    <path d="M21 12a9 9 0 1 1-6.22-8.56" />
  </svg>
);

export const ChevronIcon = ({ open }: { open: boolean }) => (
  <svg {...common} className={open ? "chevron open" : "chevron"}>
    <path d="M9 6l6 6-6 6" />
  </svg>
);

export const BellIcon = () => (
  <svg {...common}>
    <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
    <path d="M13.73 21a2 2 0 0 1-3.46 0" />
  </svg>
);
