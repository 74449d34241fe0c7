package manpage

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func samplePage() *Page {
	return &Page{
		Name: "tool-thing", Section: 1, Date: "2026-12-03", Source: "tool 1.0", Manual: "tool manual",
		Short:    "do a thing, with-dashes",
		Synopsis: []string{"tool thing NAME [--flag X]"},
		Description: `First paragraph, with a backslash \ and a "quote".
.starts with a dot

Example:
  tool thing --flag 1
    deeper
Back to text.`,
		Options:  []Option{{Short: "o", Long: "output", Arg: "FORMAT", Usage: "table or json", Def: "table"}, {Long: "force", Usage: "do it anyway"}},
		Commands: []Command{{Name: "thing sub", Page: "tool-thing-sub(1)", Short: "the sub command"}},
		Sections: []Section{{Title: "Exit status", Text: "0 on success."}},
		SeeAlso:  []string{"tool(1)", "toold(8)"},
	}
}

// TestWriteEscapes checks what roff would otherwise eat: a backslash, a
// minus (set as a hyphen), a line starting with a dot (read as a request).
func TestWriteEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := samplePage().Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`.TH "TOOL\-THING" 1 "2026\-12\-03" "tool 1.0" "tool manual"`,
		`tool\-thing \- do a thing, with\-dashes`,
		`backslash \e and a "quote".`,
		"\n\\&.starts with a dot\n",
		`\fB\-o\fR, \fB\-\-output\fR \fIFORMAT\fR`,
		`table or json (default: table)`,
		".RS 4\n.nf\ntool thing \\-\\-flag 1\n  deeper\n.fi\n.RE\nBack to text.",
		`\fBtool\fR(1),`,
		".SH \"EXIT STATUS\"\n0 on success.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q:\n%s", want, out)
		}
	}
}

// TestRendersWithoutWarnings renders the page with man(1) as a user would
// (groff, all warnings on): the roff is well formed and the text comes out.
func TestRendersWithoutWarnings(t *testing.T) {
	if _, err := exec.LookPath("groff"); err != nil {
		t.Fatalf("groff is not installed (scripts/deps.sh installs it): %v", err)
	}
	var b bytes.Buffer
	if err := samplePage().Write(&b); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u")
	cmd.Stdin = &b
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("groff: %v: %s", err, errb.String())
	}
	if errb.Len() > 0 {
		t.Errorf("groff warned:\n%s", errb.String())
	}
	text := out.String()
	for _, want := range []string{"tool-thing - do a thing, with-dashes", "-o, --output FORMAT", `backslash \ and a "quote".`, ".starts with a dot", "tool thing --flag 1", "EXIT STATUS", "tool(1), toold(8)"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, text)
		}
	}
}
