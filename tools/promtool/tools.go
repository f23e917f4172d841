//go:build tools

// Package tools pins promtool's module for tools/promtool/build.sh.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
