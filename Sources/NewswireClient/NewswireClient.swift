// The NewswireClient module: see README "Modules".
