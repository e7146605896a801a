import Foundation
import Testing

@testable import NewswireLoad

@Suite("HdrHistogram percentile distribution (.hgrm) and the latency plot")
struct LatencyPlotTests {
    static func histogram() -> LatencyRecorder.LatencyHistogram {
        var histogram = LatencyRecorder.makeHistogram()
        for micros in 1...1000 { _ = histogram.record(UInt64(micros) * 1000) }  // 1 µs … 1 ms, in ns
        return histogram
    }

    @Test(".hgrm text has HdrHistogram's header, rows in ms and trailer, and parses back")
    func roundTrip() throws {
        let text = PercentileDistribution.text(of: Self.histogram())
        #expect(text.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"))
        #expect(text.contains("#[Max     =        1.000, Total count    =         1000]"))
        let rows = try PercentileDistribution.parse(text)
        #expect(rows.first!.percentile == 0 && rows.first!.totalCount == 1)
        #expect(rows.last!.percentile == 1 && rows.last!.totalCount == 1000)
        #expect(abs(rows.last!.milliseconds - 1.0) < 0.001)
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.percentile <= $1.percentile && $0.milliseconds <= $1.milliseconds })
        // The median of 1…1000 µs is 0.5 ms, to the histogram's precision.
        let median = try #require(rows.first { $0.percentile >= 0.5 })
        #expect(abs(median.milliseconds - 0.5) < 0.002)
    }

    @Test("a file that is not a percentile distribution is refused with the line")
    func badFile() {
        #expect(throws: LoadConfigurationError.self) { try PercentileDistribution.parse("hello world\n") }
        #expect(throws: LoadConfigurationError.self) { try PercentileDistribution.parse("") }
    }

    @Test("the SVG draws one curve per series on a log10(1/(1-p)) axis labelled 90%, 99%, 99.9%")
    func svg() throws {
        let rows = try PercentileDistribution.parse(PercentileDistribution.text(of: Self.histogram()))
        let svg = LatencyPlot.svg(
            title: "a & b", series: [.init(name: "run <1>", rows: rows), .init(name: "service", rows: rows, dashed: true)])
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "stroke-dasharray").count - 1 == 2)  // the curve and its legend
        for label in [">0%<", ">90%<", ">99%<", ">99.9%<", "a &amp; b", "run &lt;1&gt;"] { #expect(svg.contains(label)) }
        #expect(LatencyPlot.percentileLabel(5) == "99.999%")
    }
}
