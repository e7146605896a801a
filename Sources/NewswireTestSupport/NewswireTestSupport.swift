// The NewswireTestSupport module: see README "Modules".
