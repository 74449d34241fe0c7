package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestEveryCommandDocumented holds the --help texts and docs/cli.md to one
// another: every command vswitchctl has is named in the reference, and each
// of its flags is spelled there (a flag added without its line in the
// reference fails here, not in a user's hands).
func TestEveryCommandDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	n := 0
	walkCommands(newRootCmd(&app{}), func(c *cobra.Command) {
		n++
		path := strings.TrimPrefix(c.CommandPath(), "vswitchctl ")
		if c == c.Root() {
			path = "vswitchctl"
		}
		if !strings.Contains(doc, path) {
			t.Errorf("docs/cli.md does not name the command %q", path)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if !strings.Contains(doc, "--"+f.Name) {
				t.Errorf("docs/cli.md does not mention %s's flag --%s", path, f.Name)
			}
		})
	})
	if n < 40 {
		t.Fatalf("walked %d commands: the tree is not what this test expects", n)
	}
}
