// The NewswireEngine module: see README "Modules".
