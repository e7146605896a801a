import NewswireClient
import NewswireProtocol
import Testing

@Suite("Client configuration")
struct ConfigurationTests {
    @Test("the client's defaults are the protocol's limits")
    func defaultsComeFromLimits() {
        let configuration = NewswireClient.Configuration()
        #expect(configuration.port == 7411)
    }
}
