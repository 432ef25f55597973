// Package mappings holds the default mapping pack shipped with the
// translator. The YAML files are the pack; this package only embeds them so
// the binary works without a mappings directory on disk.
package mappings

import "embed"

// Files is the default pack: every *.yaml file of this directory.
//
//go:embed *.yaml
var Files embed.FS
