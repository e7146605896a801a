import Foundation
import Histogram

/// The merged histograms of a run, in nanoseconds.
public struct LoadHistograms: Sendable {
    /// Every measured request: from its scheduled send in open loop (corrected for coordinated omission), from its
    /// send in closed loop.
    public var latency: LatencyRecorder.LatencyHistogram
    /// Open loop only: from the actual send (uncorrected).
    public var serviceTime: LatencyRecorder.LatencyHistogram?
}

/// HdrHistogram's percentile-distribution text (`.hgrm`), the file HdrHistogram's plotters read: values in
/// milliseconds, percentiles to 12 places, and the `#[Mean …]` trailer.
public enum PercentileDistribution {
    /// One row of the distribution.
    public struct Row: Sendable, Hashable {
        public var milliseconds: Double
        /// 0…1.
        public var percentile: Double
        public var totalCount: Int
    }

    /// `histogram` (nanoseconds) as `.hgrm` text in milliseconds.
    public static func text(of histogram: LatencyRecorder.LatencyHistogram) -> String {
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1_000_000)
        return text
    }

    /// The rows of `.hgrm` text (header, blank and `#` lines skipped); throws on anything else.
    public static func parse(_ text: String) throws -> [Row] {
        var rows: [Row] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix("Value") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "," })
            guard fields.count >= 3, let value = Double(fields[0]), let percentile = Double(fields[1]),
                let count = Int(fields[2]), (0...1).contains(percentile)
            else {
                throw LoadConfigurationError("line \(number + 1) is not a percentile-distribution row: \(trimmed)")
            }
            rows.append(Row(milliseconds: value, percentile: percentile, totalCount: count))
        }
        guard !rows.isEmpty else { throw LoadConfigurationError("no percentile-distribution rows (an .hgrm file?)") }
        return rows
    }
}

/// Latency by percentile as an SVG line chart, drawn as HdrHistogram's plotter draws it: the x axis is
/// log10(1/(1−p)), so 90%, 99%, 99.9%… are evenly spaced and the tail is visible; the y axis is linear.
public enum LatencyPlot {
    /// One curve.
    public struct Series: Sendable {
        public var name: String
        public var rows: [PercentileDistribution.Row]
        /// Dashed: uncorrected (service time) curves, beside their corrected counterparts.
        public var dashed: Bool

        public init(name: String, rows: [PercentileDistribution.Row], dashed: Bool = false) {
            self.name = name
            self.rows = rows
            self.dashed = dashed
        }
    }

    static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// The chart. The 100th-percentile row (infinite on this axis) is drawn at the right edge.
    public static func svg(title: String, series: [Series]) -> String {
        let width = 960.0, height = 560.0
        let left = 80.0, right = 44.0, top = 48.0, bottom = 64.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ p: Double) -> Double { p >= 1 ? .infinity : log10(1 / (1 - p)) }
        let finiteX = series.flatMap { $0.rows.map { x($0.percentile) } }.filter(\.isFinite)
        let decades = max(2, min(7, Int((finiteX.max() ?? 2).rounded(.up))))
        let maxValue = series.flatMap { $0.rows.map(\.milliseconds) }.max() ?? 1
        let (yMax, yStep) = niceScale(maxValue)
        func px(_ value: Double) -> Double { left + min(value, Double(decades)) / Double(decades) * plotWidth }
        func py(_ value: Double) -> Double { top + plotHeight - value / yMax * plotHeight }
        func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="13">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(fmt(width / 2))" y="28" text-anchor="middle" font-size="17">\(escape(title))</text>

            """
        // Grid and axes.
        for decade in 0...decades {
            let gx = px(Double(decade))
            svg += "<line x1=\"\(fmt(gx))\" y1=\"\(fmt(top))\" x2=\"\(fmt(gx))\" y2=\"\(fmt(top + plotHeight))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(fmt(gx))\" y=\"\(fmt(top + plotHeight + 20))\" text-anchor=\"middle\">\(percentileLabel(decade))</text>\n"
        }
        var tick = 0.0
        while tick <= yMax + yStep / 2 {
            let gy = py(tick)
            svg += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(gy))\" x2=\"\(fmt(left + plotWidth))\" y2=\"\(fmt(gy))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(fmt(left - 8))\" y=\"\(fmt(gy + 4))\" text-anchor=\"end\">\(tickLabel(tick, step: yStep))</text>\n"
            tick += yStep
        }
        svg += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotWidth))\" height=\"\(fmt(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(fmt(height - 16))\" text-anchor=\"middle\">Percentile (log scale of 1/(1−p))</text>\n"
        svg += "<text transform=\"translate(20 \(fmt(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">Latency (ms)</text>\n"
        // Curves: step-free polylines through the distribution's rows.
        for (index, curve) in series.enumerated() {
            let colour = colours[index % colours.count]
            let points = curve.rows.map { row -> String in
                let position = x(row.percentile)
                return "\(fmt(position.isFinite ? px(position) : left + plotWidth)),\(fmt(py(row.milliseconds)))"
            }
            let dash = curve.dashed ? " stroke-dasharray=\"7 4\"" : ""
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            let ly = top + 18 + Double(index) * 20
            svg += "<line x1=\"\(fmt(left + 14))\" y1=\"\(fmt(ly - 4))\" x2=\"\(fmt(left + 44))\" y2=\"\(fmt(ly - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
            svg += "<text x=\"\(fmt(left + 52))\" y=\"\(fmt(ly))\">\(escape(curve.name))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// `0%`, `90%`, `99%`, `99.9%`, … for decade 0, 1, 2, 3, …
    static func percentileLabel(_ decade: Int) -> String {
        switch decade {
        case 0: "0%"
        case 1: "90%"
        case 2: "99%"
        default: "99." + String(repeating: "9", count: decade - 2) + "%"
        }
    }

    /// An upper bound and a step of 1, 2 or 5 × 10^n giving 4 to 10 ticks.
    static func niceScale(_ maximum: Double) -> (Double, Double) {
        let top = maximum > 0 ? maximum * 1.05 : 1
        let magnitude = pow(10, floor(log10(top / 5)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { top / $0 <= 10 } ?? 10 * magnitude
        return ((top / step).rounded(.up) * step, step)
    }

    static func tickLabel(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : Int(-floor(log10(step)))
        return String(format: "%.\(decimals)f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
