// The NewswireProtocol module: see README "Modules".
