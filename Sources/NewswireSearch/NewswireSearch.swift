// The NewswireSearch module: see README "Modules".
