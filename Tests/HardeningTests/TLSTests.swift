import Foundation
import NIOCore
import NewswireClient
import NewswireProtocol
import NewswireTestSupport
import NewswireServer
import Testing

/// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI for each run.
struct TestPKI {
    let directory: String
    var caPath: String { directory + "/ca.pem" }
    var otherCAPath: String { directory + "/other-ca.pem" }
    var certificatePath: String { directory + "/server.pem" }
    var keyPath: String { directory + "/server.key" }
    var elsewhereCertificatePath: String { directory + "/elsewhere.pem" }
    var elsewhereKeyPath: String { directory + "/elsewhere.key" }

    static let opensslPath = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func make() throws -> TestPKI {
        let directory = NSTemporaryDirectory() + "newswire-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var made = false
        defer { if !made { try? FileManager.default.removeItem(atPath: directory) } }
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/ext.cnf", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for name in ["ca", "other-ca"] {
            try openssl(
                ["req", "-x509"] + ec + [
                    "-keyout", "\(name).key", "-out", "\(name).pem", "-days", "2", "-subj", "/CN=Newswire test \(name)",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                ], in: directory)
        }
        try "subjectAltName=DNS:elsewhere.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/elsewhere.cnf", atomically: true, encoding: .utf8)
        // server: for 127.0.0.1 and localhost; elsewhere: a valid certificate from the same CA for another name.
        for (name, subject, extensions) in [
            ("server", "/CN=localhost", "ext.cnf"), ("elsewhere", "/CN=elsewhere.example", "elsewhere.cnf"),
        ] {
            try openssl(
                ["req"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject], in: directory)
            try openssl(
                [
                    "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", "\(name).pem", "-days", "2", "-extfile", extensions,
                ], in: directory)
        }
        made = true
        return TestPKI(directory: directory)
    }

    /// A hardened test server with this PKI's certificate for 127.0.0.1 and localhost.
    func startServer() async throws -> TestServer {
        try await HardenedServer.start {
            $0.tls = .init(certificateChainPath: certificatePath, privateKeyPath: keyPath)
        }
    }

    /// Removes the keys and certificates.
    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: opensslPath!)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ServerError(message: "openssl \(arguments.joined(separator: " ")) failed")
        }
    }
}

@Suite(
    "TLS with a certificate generated for the test", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: TestPKI.opensslPath != nil, "needs the openssl CLI to make a test certificate"))
struct TLSTests {
    @Test("a TLS server and a client trusting the test CA: handshake, write, read, search")
    func roundTrip() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try await pki.startServer()
        let client = server.client(tls: .init(trustRootsPath: pki.caPath))
        try await seedProbeArticles(client)
        #expect(try await client.article(id: ArticleID("probe-7")) == probeArticle(7))
        #expect(try await client.search(SearchRequest(text: "第7号探针文章")).hits.first?.id == ArticleID("probe-7"))
        // By name as well as by address.
        let byName = NewswireClient(
            configuration: .init(host: "localhost", port: server.port, tls: .init(trustRootsPath: pki.caPath)))
        _ = try await byName.ping()
        await byName.shutdown()
        await client.shutdown()
        try await server.stop()
    }

    @Test("a plain-TCP client at a TLS server is told the server may want TLS, not that a connection broke")
    func plainClientAtTLSServer() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try await pki.startServer()
        let plain = NewswireClient(configuration: .init(host: "127.0.0.1", port: server.port, maxRetries: 0))
        do {
            _ = try await plain.ping()
            Issue.record("a plain PING was answered by a TLS server")
        } catch let error as NewswireClientError {
            #expect(error.code == .connectionFailed, "\(error)")
            #expect(
                error.message == "127.0.0.1:\(server.port) closed the connection without answering the handshake; "
                    + "if it serves TLS, connect with TLS (--tls, Configuration.tls)", "\(error.message)")
        }
        await plain.shutdown()
        try await server.stop()
    }

    @Test("a TLS client at a plain server is told the server does not speak TLS")
    func tlsClientAtPlainServer() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try await HardenedServer.start()
        let client = server.client(tls: .init(trustRootsPath: pki.caPath))
        do {
            _ = try await client.ping()
            Issue.record("a TLS PING was answered by a plain server")
        } catch let error as NewswireClientError {
            #expect(error.code == .connectionFailed && !error.isRetryable, "\(error)")
            #expect(error.message.hasPrefix("127.0.0.1:\(server.port) does not speak TLS"), "\(error.message)")
        }
        await client.shutdown()
        try await server.stop()
    }

    @Test("the client refuses a certificate it cannot verify (unknown CA, wrong name): not retryable, says why")
    func clientVerifiesTheServer() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try await pki.startServer()
        for tls in [
            NewswireClient.TLS(trustRootsPath: pki.otherCAPath),
            NewswireClient.TLS(),  // the system roots do not include the test CA
        ] {
            try await expectTLSRefusal(server.client(tls: tls), "\(tls)")
        }
        try await server.stop()

        // A certificate from the trusted CA that names another host (and not this address) is refused too.
        let elsewhere = try await HardenedServer.start {
            $0.tls = .init(certificateChainPath: pki.elsewhereCertificatePath, privateKeyPath: pki.elsewhereKeyPath)
        }
        try await expectTLSRefusal(elsewhere.client(tls: .init(trustRootsPath: pki.caPath)), "wrong name")
        // ... unless the client was told that name is the one to expect.
        let named = elsewhere.client(tls: .init(trustRootsPath: pki.caPath, serverHostname: "elsewhere.example"))
        _ = try await named.ping()
        await named.shutdown()
        try await elsewhere.stop()
    }

    private func expectTLSRefusal(
        _ client: NewswireClient, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let error = await #expect(throws: NewswireClientError.self, "\(what)", sourceLocation: sourceLocation) {
            try await client.ping()
        }
        #expect(error?.code == .connectionFailed, "got \(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.isRetryable == false, sourceLocation: sourceLocation)
        #expect(error?.message.contains("TLS") == true, sourceLocation: sourceLocation)
        await client.shutdown()
    }

    @Test("plaintext peers on a TLS port are dropped without disturbing TLS clients")
    func plaintextOnTLSPort() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        try await withAttack(
            tls: .init(trustRootsPath: pki.caPath),
            configure: {
                shortHandshake(&$0)
                $0.tls = .init(certificateChainPath: pki.certificatePath, privateKeyPath: pki.keyPath)
            }
        ) { server in
            for _ in 0..<20 {
                let connection = try await RawConnection.connect(port: server.port)
                try await connection.send(
                    RawConnection.frame(.hello(HelloMessage(clientName: "plaintext")), id: RequestID(1)))
                #expect(try await connection.waitUntilClosed())
            }
            // A plaintext NewswireClient gets a clear failure rather than hanging.
            let plain = server.client(maxRetries: 0)
            await #expect(throws: NewswireClientError.self) { try await plain.ping() }
            await plain.shutdown()
        }
    }

    @Test("a TLS peer that never finishes its handshake is cut off at the handshake deadline")
    func stalledTLSHandshake() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        try await withAttack(
            tls: .init(trustRootsPath: pki.caPath),
            configure: {
                shortHandshake(&$0)
                $0.tls = .init(certificateChainPath: pki.certificatePath, privateKeyPath: pki.keyPath)
            }
        ) { server in
            var connections: [RawConnection] = []
            for _ in 0..<50 {
                let connection = try await RawConnection.connect(port: server.port)
                // A TLS record header for a ClientHello that never arrives.
                try await connection.send([0x16, 0x03, 0x01, 0x02, 0x00])
                connections.append(connection)
            }
            for connection in connections { #expect(try await connection.waitUntilClosed(within: .seconds(10))) }
        }
    }

    @Test("the server refuses to start with a key that does not match, or a missing file, saying which")
    func badServerFiles() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        for (certificate, key, mention) in [
            (pki.certificatePath, pki.directory + "/ca.key", "does the key belong"),
            (pki.directory + "/absent.pem", pki.keyPath, "absent.pem"),
        ] {
            do {
                let server = try await HardenedServer.start {
                    $0.tls = .init(certificateChainPath: certificate, privateKeyPath: key)
                }
                try? await server.stop()
                Issue.record("server started with \(certificate) and \(key)")
            } catch {
                #expect("\(error)".contains(mention), "got \(error)")
            }
        }
    }
}
