// The NewswireTestSupport module: what tests of the server, the client and the whole system share on top of
// NewswireTestFixtures (re-exported): a test server on port 0 and stores of every kind. Library tests that must not
// build NIO (Model, Extraction, Search, Store) import NewswireTestFixtures instead.

@_exported import NewswireTestFixtures
