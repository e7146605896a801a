#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Glibc)
    typealias SpawnFileActions = posix_spawn_file_actions_t
#else
    typealias SpawnFileActions = posix_spawn_file_actions_t?
#endif

/// Starts `command` (its first element is the executable's path) with posix_spawn, with the file actions `setUp`
/// adds and, on Linux, no other descriptor of the test process: a child that inherited another test's socket
/// would hold that connection open after its real peer is gone. Returns the pid and posix_spawn's result.
func spawnWithoutInheritedDescriptors(
    _ command: [String], setUp: (inout SpawnFileActions) -> Void
) -> (pid: pid_t, result: Int32) {
    var actions = SpawnFileActions()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    setUp(&actions)
    #if canImport(Glibc)
        closeInheritedDescriptors(&actions, from: 3)
    #endif
    let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
    return (pid, result)
}

#if canImport(Glibc)
    /// Adds glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; not in Swift's Glibc module, so looked up
    /// at run time): the child starts with no descriptor at or above `lowest` but those its actions set up.
    func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t, from lowest: Int32) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, lowest)
    }
#endif
