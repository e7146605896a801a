// The NewswireServer module: see README "Modules".
