import Foundation
import NewswireTestSupport
import Testing

@Suite("newswire bench --histogram, --plot and bench plot (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct BenchOutputTests {
    @Test("an open-loop run writes the corrected and uncorrected .hgrm files and a plot; bench plot compares them")
    func histogramsAndPlots() async throws {
        let server = try await cliServer(extra: 20)
        defer { Task { try? await server.stop(removingData: true) } }
        let directory = TemporaryDirectory()
        let hgrm = directory.file("run.hgrm")
        let svg = directory.file("run.svg")
        let run = try await newswire(
            ["bench", "--connections", "2", "--pipeline", "4", "--rate", "400", "--duration", "500ms", "--warmup", "0",
             "--histogram", hgrm, "--plot", svg, "--json"], port: server.port)
        #expect(run.status == 0 || run.status == 1, "\(run)")  // 1: some requests NOT_SENT on a busy machine
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let answered = try #require(result["requests"] as? Int)
        for path in [hgrm, directory.file("run.service.hgrm"), svg] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path) is missing after \(run)")
        }
        for path in [hgrm, directory.file("run.service.hgrm")] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)"))
            #expect(text.contains("Total count    = \(String(repeating: " ", count: 12 - String(answered).count))\(answered)]"))
        }
        let drawn = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(drawn.contains("(corrected)") && drawn.contains("(uncorrected)"))
        let comparison = directory.file("cmp.svg")
        let plot = try await newswire(["bench", "plot", "first=\(hgrm)", directory.file("run.service.hgrm"), "-o", comparison])
        #expect(plot.status == 0, "\(plot)")
        let chart = try String(contentsOfFile: comparison, encoding: .utf8)
        #expect(chart.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(chart.contains(">first<") && chart.contains(">run.service<"))
        let bad = try await newswire(["bench", "plot", svg, "-o", comparison])
        #expect(bad.status == 1 && bad.stderrLines.count == 1, "\(bad)")
        try await server.stop(removingData: true)
    }
}
