import NIOCore

/// HELLO (0x0001), the client's first frame (PROTOCOL.md §6.1).
public struct HelloMessage: WireMessage, FieldCoded {
    static var wireName: String { "Hello" }

    /// Versions the client speaks.
    public var versions: ClosedRange<UInt8>
    /// Free-form client name and version, for server logs (e.g. `newswire-cli/1.0`).
    public var clientName: String
    /// Compressions the client accepts, most preferred first.
    public var compressions: [CompressionAlgorithm]
    /// The auth token, when the client has one.
    public var token: String?
    /// The largest payload the client accepts in one frame (0: the spec default).
    public var maxFrameLength: UInt32

    /// Creates a HELLO.
    public init(
        versions: ClosedRange<UInt8> = ProtocolVersion.supported, clientName: String,
        compressions: [CompressionAlgorithm] = [.zlib], token: String? = nil, maxFrameLength: UInt32 = 0
    ) {
        self.versions = versions
        self.clientName = clientName
        self.compressions = compressions
        self.token = token
        self.maxFrameLength = maxFrameLength
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintField(1, UInt64(versions.lowerBound))
        buffer.writeVarintField(2, UInt64(versions.upperBound))
        buffer.writeStringFieldIfNonEmpty(3, clientName)
        buffer.writePackedVarintField(4, compressions.map { UInt64($0.rawValue) })
        buffer.writeOptionalStringField(5, token)
        buffer.writeVarintFieldIfNonZero(6, UInt64(maxFrameLength))
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var minimum: UInt32?
        var maximum: UInt32?
        var hello = HelloMessage(clientName: "", compressions: [])
        var compressions: [UInt64] = []
        while let field = try reader.nextField() {
            switch field.number {
            case 1: minimum = try reader.readUInt32(field.type)
            case 2: maximum = try reader.readUInt32(field.type)
            case 3: hello.clientName = try reader.readString(field.type)
            case 4: try reader.readPackedVarints(field.type, into: &compressions)
            case 5: hello.token = try reader.readString(field.type)
            case 6: hello.maxFrameLength = try reader.readUInt32(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let minimum, let maximum else {
            switch (minimum, maximum) {
            case (nil, nil): throw reader.malformed("required fields 1 (min_version) and 2 (max_version) are missing")
            case (nil, _): throw reader.missing("1 (min_version)")
            default: throw reader.missing("2 (max_version)")
            }
        }
        guard minimum <= maximum, maximum <= UInt8.max, minimum >= 1 else {
            throw reader.malformed("version range \(minimum)...\(maximum) is empty or outside 1...255")
        }
        hello.versions = UInt8(minimum)...UInt8(maximum)
        // Unknown algorithms are kept as raw values so a server can skip them (they are just not chosen).
        hello.compressions = compressions.compactMap {
            $0 <= UInt8.max ? CompressionAlgorithm(rawValue: UInt8($0)) : nil
        }
        self = hello
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// WELCOME (0x8001), the server's answer to an acceptable HELLO (PROTOCOL.md §6.2).
public struct WelcomeMessage: WireMessage, FieldCoded {
    static var wireName: String { "Welcome" }

    /// The version both sides now use for every later frame.
    public var version: UInt8
    /// Free-form server name and version.
    public var serverName: String
    /// The chosen compression (``CompressionAlgorithm/none`` when none in common or the client offered none).
    public var compression: CompressionAlgorithm
    /// Both sides compress payloads of at least this many bytes (when ``compression`` is not none).
    public var compressionThreshold: UInt32
    /// The largest payload the server accepts in one frame.
    public var maxFrameLength: UInt32
    /// The largest uncompressed payload the server accepts.
    public var maxDecompressedLength: UInt32
    /// Requests a client may have in flight on this connection; more get OVERLOADED.
    public var maxInFlight: UInt32

    /// Creates a WELCOME.
    public init(
        version: UInt8 = ProtocolVersion.current, serverName: String, compression: CompressionAlgorithm,
        compressionThreshold: UInt32 = ProtocolLimits.defaultCompressionThreshold,
        maxFrameLength: UInt32 = ProtocolLimits.defaultMaxFrameLength,
        maxDecompressedLength: UInt32 = ProtocolLimits.defaultMaxDecompressedLength,
        maxInFlight: UInt32 = ProtocolLimits.defaultMaxInFlight
    ) {
        self.version = version
        self.serverName = serverName
        self.compression = compression
        self.compressionThreshold = compressionThreshold
        self.maxFrameLength = maxFrameLength
        self.maxDecompressedLength = maxDecompressedLength
        self.maxInFlight = maxInFlight
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintField(1, UInt64(version))
        buffer.writeStringFieldIfNonEmpty(2, serverName)
        buffer.writeVarintFieldIfNonZero(3, UInt64(compression.rawValue))
        buffer.writeVarintFieldIfNonZero(4, UInt64(compressionThreshold))
        buffer.writeVarintFieldIfNonZero(5, UInt64(maxFrameLength))
        buffer.writeVarintFieldIfNonZero(6, UInt64(maxDecompressedLength))
        buffer.writeVarintFieldIfNonZero(7, UInt64(maxInFlight))
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var version: UInt32?
        var welcome = WelcomeMessage(
            serverName: "", compression: .none, compressionThreshold: 0, maxFrameLength: 0,
            maxDecompressedLength: 0, maxInFlight: 0)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: version = try reader.readUInt32(field.type)
            case 2: welcome.serverName = try reader.readString(field.type)
            case 3:
                let raw = try reader.readUInt32(field.type)
                guard raw <= UInt8.max else { throw reader.malformed("compression \(raw) is out of range") }
                welcome.compression = CompressionAlgorithm(rawValue: UInt8(raw))
            case 4: welcome.compressionThreshold = try reader.readUInt32(field.type)
            case 5: welcome.maxFrameLength = try reader.readUInt32(field.type)
            case 6: welcome.maxDecompressedLength = try reader.readUInt32(field.type)
            case 7: welcome.maxInFlight = try reader.readUInt32(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let version else { throw reader.missing("1 (version)") }
        guard version >= 1, version <= UInt8.max else { throw reader.malformed("version \(version) is out of range") }
        welcome.version = UInt8(version)
        self = welcome
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// The server's side of the handshake (PROTOCOL.md §6): turns a HELLO into a WELCOME or an error.
public struct HandshakePolicy: Sendable, Hashable {
    /// Versions the server speaks.
    public var supportedVersions: ClosedRange<UInt8>
    /// The server's name for WELCOME.
    public var serverName: String
    /// Compressions the server is willing to use, most preferred first (empty: never compress).
    public var compressions: [CompressionAlgorithm]
    /// The threshold announced in WELCOME.
    public var compressionThreshold: UInt32
    /// The limits announced in WELCOME (the server's decoder enforces the same values).
    public var limits: FrameLimits
    /// Requests in flight per connection.
    public var maxInFlight: UInt32

    /// Creates a policy with the spec defaults.
    public init(
        supportedVersions: ClosedRange<UInt8> = ProtocolVersion.supported, serverName: String,
        compressions: [CompressionAlgorithm] = [.zlib],
        compressionThreshold: UInt32 = ProtocolLimits.defaultCompressionThreshold,
        limits: FrameLimits = .default, maxInFlight: UInt32 = ProtocolLimits.defaultMaxInFlight
    ) {
        self.supportedVersions = supportedVersions
        self.serverName = serverName
        self.compressions = compressions
        self.compressionThreshold = compressionThreshold
        self.limits = limits
        self.maxInFlight = maxInFlight
    }

    /// Chooses the highest common version and the server's most preferred compression the client offered.
    ///
    /// Throws ``ProtocolError/Code/unsupportedVersion`` naming both ranges when they do not overlap.
    /// Token checking is the server's job (it knows its tokens); ``HelloMessage/token`` is passed through.
    public func negotiate(_ hello: HelloMessage) throws(ProtocolError) -> Handshake {
        guard hello.maxFrameLength == 0 || hello.maxFrameLength >= ProtocolLimits.minimumMaxFrameLength else {
            throw ProtocolError(
                code: .protocolError,
                message: "HELLO max frame length \(hello.maxFrameLength) is below the minimum of "
                    + "\(ProtocolLimits.minimumMaxFrameLength) bytes (send 0 for the default)")
        }
        let low = max(hello.versions.lowerBound, supportedVersions.lowerBound)
        let high = min(hello.versions.upperBound, supportedVersions.upperBound)
        guard low <= high else {
            throw ProtocolError(
                code: .unsupportedVersion,
                message: "client speaks versions \(hello.versions.lowerBound)...\(hello.versions.upperBound), "
                    + "server speaks \(supportedVersions.lowerBound)...\(supportedVersions.upperBound); "
                    + "upgrade the older side",
                supportedVersions: supportedVersions)
        }
        let algorithm = compressions.first { hello.compressions.contains($0) } ?? .none
        let welcome = WelcomeMessage(
            version: high, serverName: serverName, compression: algorithm,
            compressionThreshold: compressionThreshold, maxFrameLength: limits.maxFrameLength,
            maxDecompressedLength: limits.maxDecompressedLength, maxInFlight: maxInFlight)
        return Handshake(welcome: welcome, clientMaxFrameLength: hello.maxFrameLength)
    }
}

/// The outcome of a handshake, as both sides see it.
public struct Handshake: Sendable, Hashable {
    /// The WELCOME the server sends (and the client receives).
    public var welcome: WelcomeMessage
    /// The largest payload the client accepts (HELLO field 6, spec default when 0). The server splits
    /// streams so that no frame exceeds it.
    public var clientMaxFrameLength: UInt32

    /// Creates a handshake result (the client builds one from the WELCOME it received).
    public init(welcome: WelcomeMessage, clientMaxFrameLength: UInt32 = 0) {
        self.welcome = welcome
        self.clientMaxFrameLength =
            clientMaxFrameLength == 0 ? ProtocolLimits.defaultMaxFrameLength : clientMaxFrameLength
    }

    /// Compression settings for this side's ``FrameEncoder`` from now on.
    public var compression: CompressionSettings {
        CompressionSettings(algorithm: welcome.compression, threshold: welcome.compressionThreshold)
    }
}

extension HelloMessage {
    /// The client's check of the server's WELCOME: the version must be in the client's range and the
    /// compression one the client offered (or none). Returns the settled handshake.
    public func accept(_ welcome: WelcomeMessage) throws(ProtocolError) -> Handshake {
        guard versions.contains(welcome.version) else {
            throw ProtocolError(
                code: .unsupportedVersion,
                message: "server chose version \(welcome.version), outside the client's "
                    + "\(versions.lowerBound)...\(versions.upperBound)",
                supportedVersions: versions)
        }
        guard welcome.maxFrameLength == 0 || welcome.maxFrameLength >= ProtocolLimits.minimumMaxFrameLength else {
            throw ProtocolError(
                code: .protocolError,
                message: "server announced a max frame length of \(welcome.maxFrameLength) bytes, below the "
                    + "protocol minimum of \(ProtocolLimits.minimumMaxFrameLength)")
        }
        guard welcome.compression == .none || compressions.contains(welcome.compression) else {
            throw ProtocolError(
                code: .protocolError,
                message: "server chose compression \(welcome.compression), which the client did not offer")
        }
        return Handshake(welcome: welcome, clientMaxFrameLength: maxFrameLength)
    }
}
