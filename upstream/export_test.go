package upstream

// Lookup exposes lookup to the external tests, which read rendered
// configurations by dotted path.
var Lookup = lookup
