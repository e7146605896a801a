// The NewswireLoad module: see README "Modules".
