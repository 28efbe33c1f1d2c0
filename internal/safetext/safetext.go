package safetext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// hidden reports whether a rune changes or hides what a reader sees rather
// than showing itself: controls (Cc: C0, DEL, C1), format characters (Cf:
// bidi controls, zero-width characters, BOM, soft hyphen, tags) and the
// line and paragraph separators.
func hidden(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Line returns s as one line that is safe to print. Invalid UTF-8 becomes
// U+FFFD, and every hidden character is written as \uXXXX (\U00XXXXXX above
// U+FFFF), lowercase hex. Everything else, emoji and CJK among them, stays as
// it is.
//
// The escaping is for display and not reversible: a backslash stays a
// backslash, so a key that holds the six characters `\u202e` reads the same
// as one that holds U+202E. Doubling backslashes would make every Windows-style
// key ("dir\file") read wrong and fail when pasted back into replaudit, to
// tell apart keys that are rare and harmless; where the exact key matters,
// the JSON and CSV outputs carry it.
func Line(s string) string {
	if !needsLine(s) {
		return s
	}
	return string(appendLine(make([]byte, 0, len(s)+16), s, false))
}

// appendLine appends s to b as Line shows it; with keepNewlines, '\n'
// stays a newline.
func appendLine(b []byte, s string, keepNewlines bool) []byte {
	for _, r := range s { // ranging yields U+FFFD for each invalid byte
		switch {
		case !hidden(r) || keepNewlines && r == '\n':
			b = utf8.AppendRune(b, r)
		case r > 0xFFFF:
			b = fmt.Appendf(b, `\U%08x`, r)
		default:
			b = fmt.Appendf(b, `\u%04x`, r)
		}
	}
	return b
}

// Writer shows everything written through it as Line shows each line, and
// keeps the newlines between them: it makes a whole output stream safe for
// a terminal, whatever its format. Text that is already safe, such as
// Line's or MarshalJSON's, passes unchanged.
type Writer struct {
	w io.Writer
	// held is the start of a character that the next Write may complete.
	held []byte
}

// NewWriter returns a Writer to w. Call Flush after the last Write.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it to the underlying writer, but for the
// start of a character at its end, held until the next Write or Flush. It
// returns len(p), or 0 and the underlying writer's error.
func (t *Writer) Write(p []byte) (int, error) {
	buf := p
	if len(t.held) > 0 {
		buf = append(append([]byte(nil), t.held...), p...)
	}
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	t.held = append(t.held[:0], buf[cut:]...)
	if _, err := t.w.Write(appendLine(nil, string(buf[:cut]), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out a character left incomplete by the last Write, as Line
// shows an invalid byte.
func (t *Writer) Flush() error {
	if len(t.held) == 0 {
		return nil
	}
	_, err := t.w.Write(appendLine(nil, string(t.held), true))
	t.held = t.held[:0]
	return err
}

func needsLine(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || hidden(r) {
			return true
		}
		i += size
	}
	return false
}

// ASCII returns s as printable ASCII (0x20 to 0x7E) on one line, at most max
// bytes long, for places that take nothing else, such as an SNS subject. Each
// run of whitespace that holds anything but plain spaces (a newline, a tab,
// NEL, a no-break space) becomes one space; every other character outside
// printable ASCII, and each invalid byte, becomes '?'. Leading and trailing
// spaces are dropped: SNS wants a subject that begins with a visible
// character. A string cut to fit ends in "..." within max; when max is under
// 3 there is room for dots alone.
func ASCII(s string, max int) string {
	if max <= 0 {
		return ""
	}
	b := make([]byte, 0, len(s))
	runes := []rune(s) // invalid bytes become U+FFFD, then '?'
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		if !unicode.IsSpace(r) {
			if r >= 0x20 && r < 0x7f {
				b = append(b, byte(r))
			} else {
				b = append(b, '?')
			}
			continue
		}
		j := i
		plain := true
		for j < len(runes) && unicode.IsSpace(runes[j]) {
			plain = plain && runes[j] == ' '
			j++
		}
		if plain {
			b = append(b, strings.Repeat(" ", j-i)...)
		} else {
			b = append(b, ' ')
		}
		i = j - 1
	}
	out := strings.Trim(string(b), " ")
	if len(out) <= max {
		return out
	}
	const dots = "..."
	if max <= len(dots) {
		return dots[:max]
	}
	return strings.TrimRight(out[:max-len(dots)], " ") + dots
}

// MarshalJSON is json.Marshal that writes every hidden character inside
// strings as a \uXXXX escape (a UTF-16 surrogate pair of escapes above
// U+FFFF), and leaves <, > and & as they are. The output reads plainly and
// decodes to exactly the value json.Marshal's output would.
func MarshalJSON(v any) ([]byte, error) {
	return MarshalIndentJSON(v, "", "")
}

// MarshalIndentJSON is MarshalJSON with json.MarshalIndent's layout; prefix
// and indent should be whitespace, as they are written as they are.
func MarshalIndentJSON(v any, prefix, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return escapeStrings(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// escapeStrings escapes hidden characters inside the JSON strings of js,
// following quotes and backslashes so that a prefix or indent is never
// touched. A json.RawMessage may hold invalid UTF-8 in a string; each such
// byte becomes \ufffd, as encoding/json writes it elsewhere.
func escapeStrings(js []byte) []byte {
	out := make([]byte, 0, len(js))
	inString, escaped := false, false
	for i := 0; i < len(js); {
		c := js[i]
		if c < utf8.RuneSelf {
			switch {
			case escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case c == '"':
				inString = !inString
			case inString && hidden(rune(c)): // DEL: encoding/json escapes the rest
				out = fmt.Appendf(out, `\u%04x`, c)
				i++
				continue
			}
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(js[i:])
		switch {
		case !inString:
			out = append(out, js[i:i+size]...)
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case hidden(r) && r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		case hidden(r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, js[i:i+size]...)
		}
		i += size
	}
	return out
}
