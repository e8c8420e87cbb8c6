/**
 * A sensor's readings as a uPlot line chart over the chosen window (now − window … now), with
 * time ticks spaced for the chart's width and labelled by the app's one time formatter. The
 * chart object is made once per mount and fed new data in place; its width follows its box.
 */

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import type { Reading } from "../api/types";
import { toChartColumns } from "../data/readings";
import { timeTicks, type TimeFormat } from "../format/time";
import { useTimeFormat } from "../i18n";

interface Props {
  readings: readonly Reading[];
  /** Per reading, the lowest and highest of its bucket: drawn as a band around the line. */
  band?: { low: readonly number[]; high: readonly number[] } | undefined;
  unit: string;
  label: string;
  windowS: number;
  nowMs: number;
  height?: number;
}

const STROKE = "#3b82f6";
const FILL = "rgba(59, 130, 246, 0.12)";
const BAND = "rgba(59, 130, 246, 0.22)";
/** Readable on the light and the dark background alike. */
const AXIS = "#7c8aa0";
const GRID = "rgba(124, 138, 160, 0.18)";
/** Room for one time label ("12 dic, 22:18"). */
const LABEL_PX = 85;

interface Range {
  startS: number;
  endS: number;
}

function options(width: number, height: number, label: string, unit: string, range: { current: Range }, format: { current: TimeFormat }): uPlot.Options {
  return {
    width,
    height,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true, range: () => [range.current.startS, range.current.endS] } },
    axes: [
      {
        stroke: AXIS,
        grid: { stroke: GRID },
        ticks: { stroke: GRID },
        space: LABEL_PX,
        splits: (u) => timeTicks(range.current.startS, range.current.endS, Math.max(2, Math.floor(u.bbox.width / devicePixelRatio / LABEL_PX))),
        values: (_u, splits) => format.current.axisLabels(splits, range.current.endS - range.current.startS),
      },
      {
        stroke: AXIS,
        grid: { stroke: GRID },
        ticks: { stroke: GRID },
        space: 24,
        values: (_u, splits) => splits.map((v) => `${v.toLocaleString(format.current.locale)}${unit ? ` ${unit}` : ""}`),
        // Wide enough for the longest tick label ("1018.25 hPa"); uPlot's default cuts it.
        size: (_u, values) => Math.max(40, Math.max(0, ...(values ?? []).map((v) => v.length)) * 7 + 18),
      },
    ],
    series: [
      {},
      { label, stroke: STROKE, fill: FILL, width: 1.5, spanGaps: false, points: { show: true, size: 4 } },
      // The band's edges: drawn only as the band between them.
      { label: "min", stroke: "transparent", points: { show: false } },
      { label: "max", stroke: "transparent", points: { show: false } },
    ],
    bands: [{ series: [3, 2], fill: BAND }],
  };
}

export function SensorChart({ readings, band, unit, label, windowS, nowMs, height = 160 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const format = useRef(useTimeFormat());
  format.current = useTimeFormat();
  const [times, values] = toChartColumns(readings);
  // Without buckets the band is the line itself (zero width, nothing drawn).
  const data: uPlot.AlignedData = [times, values, band ? [...band.low] : values, band ? [...band.high] : values];
  // The x axis always spans the chosen window, whatever the readings cover (one point does
  // not make a chart of years).
  const range = useRef<Range>({ startS: nowMs / 1000 - windowS, endS: nowMs / 1000 });
  range.current = { startS: nowMs / 1000 - windowS, endS: nowMs / 1000 };

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const plot = new uPlot(options(element.clientWidth || 400, height, label, unit, range, format), [[], [], [], []], element);
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

  return (
    <div
      ref={box}
      className="chart"
      data-testid="sensor-chart"
      data-points={times.length}
      role="img"
      aria-label={label}
    />
  );
}
