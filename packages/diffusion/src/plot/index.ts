export { Canvas, PALETTE, type Color } from './canvas.js';
export { Axes, lineChart, scatterChart, barChart, quiverChart, composeGrid, niceTicks, type Series, type AxesOptions } from './charts.js';
