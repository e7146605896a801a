/// The release version of Newswire, printed by `newswired --version` and `newswire --version` and sent in WELCOME
/// and STATS: one constant, so the two executables cannot disagree.
public enum NewswireVersion {
    public static let current = "0.1.0"
}
