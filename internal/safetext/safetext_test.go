package safetext_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/replaudit/replaudit/internal/safetext"
)

// nasty are keys seen in the wild, or built to fool a reader, with how each
// must look on a line, in an ASCII subject of 99 bytes, and in JSON.
var nasty = []struct {
	name                   string
	key                    string
	line, ascii, jsonValue string
}{
	{"a right-to-left override dresses an .exe as a .pdf", "invoice-\u202Efdp.exe",
		`invoice-\u202efdp.exe`, "invoice-?fdp.exe", `"invoice-\u202efdp.exe"`},
	{"bidi isolates, marks and a soft hyphen", "a\u2067b\u200Ec\u00ADd",
		`a\u2067b\u200ec\u00add`, "a?b?c?d", `"a\u2067b\u200ec\u00add"`},
	{"zero-width space and joiner make two keys look alike", "pay\u200Bpal/\u200Dlogin",
		`pay\u200bpal/\u200dlogin`, "pay?pal/?login", `"pay\u200bpal/\u200dlogin"`},
	{"a byte order mark in front", "\uFEFFreport.csv",
		`\ufeffreport.csv`, "?report.csv", `"\ufeffreport.csv"`},
	{"C1 next line, which some terminals break on", "a\u0085b",
		`a\u0085b`, "a b", `"a\u0085b"`},
	{"C1 control sequence introducer, ESC [ in one byte", "a\u009B31mred",
		`a\u009b31mred`, "a?31mred", `"a\u009b31mred"`},
	{"an ANSI colour sequence", "\x1b[31mFAILED\x1b[0m",
		`\u001b[31mFAILED\u001b[0m`, "?[31mFAILED?[0m", `"\u001b[31mFAILED\u001b[0m"`},
	{"newline, carriage return and tab forge lines and columns", "evil\r\nSubject: ok\tx",
		`evil\u000d\u000aSubject: ok\u0009x`, "evil Subject: ok x", `"evil\r\nSubject: ok\tx"`},
	{"DEL", "a\x7fb",
		`a\u007fb`, "a?b", `"a\u007fb"`},
	{"line and paragraph separators", "a\u2028b\u2029c",
		`a\u2028b\u2029c`, "a b c", `"a\u2028b\u2029c"`},
	{"a tag character, beyond U+FFFF", "flag\U000E0041",
		`flag\U000e0041`, "flag?", `"flag\udb40\udc41"`},
	{"invalid UTF-8", "bad\xff\xfe.txt",
		"bad\uFFFD\uFFFD.txt", "bad??.txt", `"bad\ufffd\ufffd.txt"`},
	{"emoji and CJK stay as they are", "photos/🏖️ 海滩.jpg",
		"photos/🏖️ 海滩.jpg", "photos/?? ??.jpg", `"photos/🏖️ 海滩.jpg"`},
	{"a backslash stays a backslash", `dir\file \u202e`,
		`dir\file \u202e`, `dir\file \u202e`, `"dir\\file \\u202e"`},
	{"HTML stays as it is", "<a&b>.html",
		"<a&b>.html", "<a&b>.html", `"<a&b>.html"`},
	{"a plain key is untouched", "reports/2026/Q3 summary.pdf",
		"reports/2026/Q3 summary.pdf", "reports/2026/Q3 summary.pdf", `"reports/2026/Q3 summary.pdf"`},
	{"a 1024-byte key", strings.Repeat("a/", 512),
		strings.Repeat("a/", 512), strings.Repeat("a/", 48) + "...", `"` + strings.Repeat("a/", 512) + `"`},
}

func TestLine(t *testing.T) {
	for _, c := range nasty {
		if got := safetext.Line(c.key); got != c.line {
			t.Errorf("%s: Line(%q): got %q, want %q", c.name, c.key, got, c.line)
		}
	}
}

func TestASCII(t *testing.T) {
	for _, c := range nasty {
		if got := safetext.ASCII(c.key, 99); got != c.ascii {
			t.Errorf("%s: ASCII(%q, 99): got %q, want %q", c.name, c.key, got, c.ascii)
		}
	}
}

func TestASCIICollapsesWhitespaceAndCutsWithinTheLimit(t *testing.T) {
	for _, c := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain spaces inside stay", "a  b", 99, "a  b"},
		{"a run with a newline in it becomes one space", "a \r\n\t b", 99, "a b"},
		{"a no-break space becomes a space", "a\u00A0b", 99, "a b"},
		{"leading and trailing whitespace goes", " \n a b \t ", 99, "a b"},
		{"only whitespace leaves nothing", " \n\t ", 99, ""},
		{"a fit is not cut", "abcdef", 6, "abcdef"},
		{"a cut ends in dots", "abcdefg", 6, "abc..."},
		{"a cut drops the space before the dots", "abc defg", 7, "abc..."},
		{"a non-ASCII character counts one byte", "ééééé", 4, "?..."},
		{"three bytes hold the dots alone", "abcd", 3, "..."},
		{"two bytes hold two dots", "abcd", 2, ".."},
		{"one byte holds one dot", "abcd", 1, "."},
		{"zero bytes hold nothing", "abcd", 0, ""},
		{"a negative limit holds nothing", "abcd", -1, ""},
		{"an empty string stays empty", "", 5, ""},
	} {
		got := safetext.ASCII(c.in, c.max)
		if got != c.want {
			t.Errorf("%s: ASCII(%q, %d): got %q, want %q", c.name, c.in, c.max, got, c.want)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	for _, c := range nasty {
		got, err := safetext.MarshalJSON(c.key)
		if err != nil || string(got) != c.jsonValue {
			t.Errorf("%s: MarshalJSON(%q): got %s, %v; want %s", c.name, c.key, got, err, c.jsonValue)
		}
	}
}

func TestMarshalJSONDecodesToTheSameValue(t *testing.T) {
	type row struct {
		Key    string            `json:"key"`
		Detail string            `json:"detail,omitempty"`
		Tags   map[string]string `json:"tags"`
		Lines  []string          `json:"lines"`
	}
	for _, c := range nasty {
		// encoding/json writes each invalid byte as U+FFFD; so does a
		// conversion to runes.
		want := string([]rune(c.key))
		in := row{Key: c.key, Detail: c.key, Tags: map[string]string{c.key: c.key}, Lines: []string{c.key, "plain"}}
		for _, indent := range []string{"", "  "} {
			js, err := safetext.MarshalIndentJSON(in, "", indent)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var out row
			if err := json.Unmarshal(js, &out); err != nil {
				t.Fatalf("%s: the output is not JSON: %v\n%s", c.name, err, js)
			}
			if out.Key != want || out.Detail != want || out.Tags[want] != want || len(out.Lines) != 2 || out.Lines[0] != want {
				t.Errorf("%s: got %+v back, want every field %q", c.name, out, want)
			}
			if r, ok := rawHidden(withoutLayout(js)); ok {
				t.Errorf("%s: the JSON holds a raw %U:\n%s", c.name, r, js)
			}
		}
	}
}

func TestMarshalIndentJSONLaysOutAsEncodingJSON(t *testing.T) {
	v := map[string]any{"key": "reports/q3.pdf", "checks": 2, "history": []string{"PENDING", "VERIFIED"}}
	want, _ := json.MarshalIndent(v, "", "  ")
	got, err := safetext.MarshalIndentJSON(v, "", "  ")
	if err != nil || string(got) != string(want) {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestMarshalJSONLeavesRawMessagesOutsideStringsAlone(t *testing.T) {
	got, err := safetext.MarshalJSON(map[string]json.RawMessage{"k": json.RawMessage("[1, \"a\u202Eb\"]")})
	want := `{"k":[1,"a\u202eb"]}`
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestMarshalJSONReportsWhatEncodingJSONRefuses(t *testing.T) {
	if _, err := safetext.MarshalJSON(make(chan int)); err == nil {
		t.Error("got no error for a channel, want encoding/json's")
	}
}

// rawHidden returns the first control or format character, or line or
// paragraph separator, in s.
func rawHidden(s string) (rune, bool) {
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return r, true
		}
	}
	return 0, false
}

// withoutLayout drops the newlines and tabs that indentation writes between
// values; inside strings encoding/json always escapes them.
func withoutLayout(js []byte) string {
	return strings.NewReplacer("\n", "", "\t", "").Replace(string(js))
}

func FuzzLine(f *testing.F) {
	for _, c := range nasty {
		f.Add(c.key, 99)
	}
	f.Add("", 0)
	f.Add(" \u0085 ", 2)
	f.Fuzz(func(t *testing.T, s string, max int) {
		line := safetext.Line(s)
		if !utf8.ValidString(line) {
			t.Errorf("Line(%q): got %q, want valid UTF-8", s, line)
		}
		if r, ok := rawHidden(line); ok {
			t.Errorf("Line(%q): got %q, which holds a raw %U; want none", s, line, r)
		}
		if _, ok := rawHidden(s); !ok && utf8.ValidString(s) && line != s {
			t.Errorf("Line(%q): got %q, want it unchanged", s, line)
		}
		max %= 200
		a := safetext.ASCII(s, max)
		if len(a) > max && len(a) > 0 {
			t.Errorf("ASCII(%q, %d): got %d bytes, want at most %d", s, max, len(a), max)
		}
		for i := 0; i < len(a); i++ {
			if a[i] < 0x20 || a[i] > 0x7e {
				t.Errorf("ASCII(%q, %d): got %q, byte %d is %#x; want printable ASCII only", s, max, a, i, a[i])
				break
			}
		}
		if strings.HasPrefix(a, " ") || strings.HasSuffix(a, " ") {
			t.Errorf("ASCII(%q, %d): got %q, want no space at either end", s, max, a)
		}
	})
}

func FuzzJSON(f *testing.F) {
	for _, c := range nasty {
		f.Add(c.key)
	}
	f.Fuzz(func(t *testing.T, s string) {
		compact, err := safetext.MarshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := rawHidden(string(compact)); ok {
			t.Errorf("MarshalJSON(%q): got %s, which holds a raw %U; want none", s, compact, r)
		}
		var back string
		if err := json.Unmarshal(compact, &back); err != nil || back != string([]rune(s)) {
			t.Errorf("MarshalJSON(%q): got %s, which decodes to %q, %v; want %q", s, compact, back, err, string([]rune(s)))
		}
		in := map[string][]string{s: {s, "<&>"}}
		js, err := safetext.MarshalIndentJSON(in, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := rawHidden(withoutLayout(js)); ok {
			t.Errorf("MarshalIndentJSON(%q): holds a raw %U:\n%s", s, r, js)
		}
		var out map[string][]string
		if err := json.Unmarshal(js, &out); err != nil {
			t.Fatalf("MarshalIndentJSON(%q): got %s, which does not decode: %v", s, js, err)
		}
		if want := string([]rune(s)); len(out) != 1 || len(out[want]) != 2 || out[want][0] != want || out[want][1] != "<&>" {
			t.Errorf("MarshalIndentJSON(%q): decodes to %q, want %q", s, out, map[string][]string{want: {want, "<&>"}})
		}
	})
}

// TestWriterShowsAStreamAsLineShowsEachOfItsLines writes each input whole
// and a byte at a time, so characters are split across writes: the output
// is Line of each line, joined by the newlines the input had.
func TestWriterShowsAStreamAsLineShowsEachOfItsLines(t *testing.T) {
	inputs := []string{
		"plain ASCII\nand a second line\n",
		"x\x1b[2J\x1b[1;32mALL VERIFIED\x1b[0m\r\n",
		"\u202Efdp.exe\u200B\u009b\x7f\tend",
		"été 日本 🙂 \U000E0041 \u2028 \u2029\n",
		"bad \xff\xfe bytes \xe2\x82 cut",
		"ends inside a character \xf0\x9f\x99",
	}
	for _, k := range nasty {
		inputs = append(inputs, k.key+"\n")
	}
	for _, in := range inputs {
		lines := strings.Split(in, "\n")
		for i, l := range lines {
			lines[i] = safetext.Line(l)
		}
		want := strings.Join(lines, "\n")
		for _, chunk := range []int{len(in) + 1, 1, 2, 3} {
			var b strings.Builder
			w := safetext.NewWriter(&b)
			for rest := in; rest != ""; {
				n := min(chunk, len(rest))
				if got, err := w.Write([]byte(rest[:n])); got != n || err != nil {
					t.Fatalf("Write: got %d, %v; want %d, nil", got, err, n)
				}
				rest = rest[n:]
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != want {
				t.Errorf("%q in writes of %d bytes: got %q, want %q", in, chunk, b.String(), want)
			}
		}
	}
}
