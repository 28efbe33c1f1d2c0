package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"
)

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// printFlags is flag.PrintDefaults, except that a bool flag never shows an
// argument: PrintDefaults takes a backquoted word in any usage text for the
// argument's name, bool or not ("-dynamodb make").
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		if isBool(f) {
			name = ""
		}
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		if len(line) <= 4 { // a one-letter flag with no argument: usage on the same line
			line += "\t"
		} else {
			line += "\n    \t"
		}
		line += strings.ReplaceAll(text, "\n", "\n    \t")
		if !isZero(f) {
			if reflect.TypeOf(f.Value).String() == "*flag.stringValue" {
				line += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				line += fmt.Sprintf(" (default %v)", f.DefValue)
			}
		}
		fmt.Fprintln(w, line)
	})
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// isZero reports whether the flag's default is its type's zero value, which
// help leaves unsaid, as flag.PrintDefaults does.
func isZero(f *flag.Flag) bool {
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	v, ok := z.Interface().(flag.Value)
	return ok && f.DefValue == v.String()
}

// version is the module's version, or "devel" and the commit it was built
// from when built from a checkout.
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		v += " (modified)"
	}
	return v
}

func buildVersion() string { return version(debug.ReadBuildInfo()) }
