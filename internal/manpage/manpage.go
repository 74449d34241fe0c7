package manpage

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Page is one manual page.
type Page struct {
	Name     string   // e.g. "vswitchctl-port-add"
	Section  int      // 1 for user commands, 8 for daemons
	Date     string   // footer date, e.g. "2026-12-03"
	Source   string   // footer source, e.g. "vswitch 1.2.0"
	Manual   string   // header centre, e.g. "vswitch manual"
	Short    string   // one line for NAME, after the dash
	Synopsis []string // usage lines, printed verbatim
	// Description is plain text: paragraphs separated by blank lines;
	// lines indented by two spaces or more are kept as they are (examples,
	// lists).
	Description string
	Options     []Option
	Global      []Option  // options every command takes, after OPTIONS
	Commands    []Command // subcommands, with their own pages
	Sections    []Section // more sections after OPTIONS (EXAMPLES, FILES, ...)
	SeeAlso     []string  // "vswitchd(8)"
}

// Option is one flag.
type Option struct {
	Short string // "o", or empty
	Long  string // "output"
	Arg   string // "FILE", or empty for a switch
	Usage string
	Def   string // the default, empty when none worth saying
}

// Command is a subcommand listed on its parent's page.
type Command struct {
	Name  string // as the user types it, "port add"
	Page  string // its page, "vswitchctl-port-add(1)"
	Short string
}

// Section is a titled block of Description-like text.
type Section struct {
	Title string
	Text  string
}

// Write prints p in roff.
func (p *Page) Write(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, ".TH %s %d %s %s %s\n", quote(strings.ToUpper(p.Name)), p.Section, quote(p.Date), quote(p.Source), quote(p.Manual))
	// No hyphenation, ragged right: flags and page names stay whole, to be
	// searched for and copied.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(b, "%s \\- %s\n", escape(p.Name), escape(p.Short))
	if len(p.Synopsis) > 0 {
		b.WriteString(".SH SYNOPSIS\n.nf\n")
		for _, l := range p.Synopsis {
			b.WriteString(line(l) + "\n")
		}
		b.WriteString(".fi\n")
	}
	if p.Description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		text(b, p.Description)
	}
	if len(p.Commands) > 0 {
		b.WriteString(".SH COMMANDS\n")
		for _, c := range p.Commands {
			fmt.Fprintf(b, ".TP\n.B %s\n%s", escape(c.Name), line(strings.TrimSuffix(c.Short, ".")))
			if c.Page != "" {
				fmt.Fprintf(b, "; see \\fB%s\\fR.", escape(c.Page))
			}
			b.WriteString("\n")
		}
	}
	options(b, "OPTIONS", p.Options)
	options(b, "GLOBAL OPTIONS", p.Global)
	for _, s := range p.Sections {
		fmt.Fprintf(b, ".SH %s\n", quote(strings.ToUpper(s.Title)))
		text(b, s.Text)
	}
	if len(p.SeeAlso) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		refs := make([]string, len(p.SeeAlso))
		for i, r := range p.SeeAlso {
			refs[i] = seeAlso(r)
		}
		b.WriteString(strings.Join(refs, ",\n") + "\n")
	}
	return b.Flush()
}

func options(b *bufio.Writer, title string, opts []Option) {
	if len(opts) == 0 {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", quote(title))
	for _, o := range opts {
		b.WriteString(".TP\n" + o.term() + "\n" + line(o.Usage))
		if o.Def != "" {
			b.WriteString(" (default: " + escape(o.Def) + ")")
		}
		b.WriteString("\n")
	}
}

// term is the option's tag line: bold flag names, an italic argument.
func (o Option) term() string {
	var parts []string
	if o.Short != "" {
		parts = append(parts, `\fB\-`+escape(o.Short)+`\fR`)
	}
	parts = append(parts, `\fB\-\-`+escape(o.Long)+`\fR`)
	s := strings.Join(parts, ", ")
	if o.Arg != "" {
		s += ` \fI` + escape(o.Arg) + `\fR`
	}
	return s
}

// seeAlso sets "name(N)" as a bold name with its section.
func seeAlso(r string) string {
	if i := strings.LastIndexByte(r, '('); i > 0 && strings.HasSuffix(r, ")") {
		return `\fB` + escape(r[:i]) + `\fR` + escape(r[i:])
	}
	return escape(r)
}

// text writes paragraphs: blank lines separate them; lines indented by
// two spaces or a tab are kept as they are (examples, lists), in a no-fill
// block set in by four.
func text(b *bufio.Writer, s string) {
	verbatim, para := false, false
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimRight(l, " \t")
		indented := strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t")
		if verbatim && !indented {
			b.WriteString(".fi\n.RE\n")
			verbatim = false
		}
		switch {
		case l == "":
			para = true
			continue
		case indented:
			if !verbatim {
				if para {
					b.WriteString(".PP\n")
				}
				b.WriteString(".RS 4\n.nf\n")
				verbatim = true
			}
			l = strings.TrimPrefix(strings.TrimPrefix(l, "\t"), "  ")
		case para:
			b.WriteString(".PP\n")
		}
		para = false
		b.WriteString(line(l) + "\n")
	}
	if verbatim {
		b.WriteString(".fi\n.RE\n")
	}
}

// line escapes one line of running text; a line starting with '.' or '\”
// would be read as a request, so it gets a zero-width \& first.
func line(s string) string {
	s = escape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// escape makes s literal roff text: backslashes and minus signs (which
// roff would set as hyphens, breaking copy and paste of flags).
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// quote is a macro argument: double quotes around, inner quotes doubled.
func quote(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `""`) + `"`
}
