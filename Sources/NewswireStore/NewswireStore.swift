// The NewswireStore module: see README "Modules".
