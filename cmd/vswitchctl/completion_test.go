package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Each script is one the shell accepts: `bash -n` always, zsh and fish
// where they are installed (`zsh -n`, `fish -n`).
func TestCompletionScriptsParse(t *testing.T) {
	for _, c := range []struct{ shell, marker string }{
		{"bash", "__start_vswitchctl"},
		{"zsh", "#compdef vswitchctl"},
		{"fish", "complete -c vswitchctl"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"completion", c.shell}, &out, &errb); code != 0 || errb.Len() != 0 {
			t.Fatalf("completion %s: exit %d, stderr %q", c.shell, code, errb.String())
		}
		if !strings.Contains(out.String(), c.marker) {
			t.Errorf("completion %s: no %q in the script", c.shell, c.marker)
		}
		if c.shell == "powershell" {
			continue
		}
		if _, err := exec.LookPath(c.shell); err != nil {
			if c.shell == "bash" {
				t.Fatalf("no bash to check the script with")
			}
			t.Logf("%s is not installed: its script is not parsed", c.shell)
			continue
		}
		f := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(c.shell, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n rejects the completion script: %v\n%s", c.shell, err, b)
		}
	}
}

// What a bash user sees: with bash-completion loaded and the script
// sourced, TAB after "network cr" offers "create", and after "completion"
// the shells. The script runs this very vswitchctl (its __complete command),
// so the test builds it.
func TestCompletionBashCompletes(t *testing.T) {
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skipf("%s missing: apt-get install bash-completion (CI installs it)", bashCompletion)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "vswitchctl"), ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	var script, errb bytes.Buffer
	if code := run([]string{"completion", "bash"}, &script, &errb); code != 0 {
		t.Fatalf("completion bash: exit %d, %s", code, errb.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "vswitchctl.bash"), script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		// As bash calls a completion function: the words, the cursor word,
		// and $1..$3 = command, current word, previous word.
		sh := `source ` + bashCompletion + `; source "$DIR/vswitchctl.bash"
COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]}-1))
__start_vswitchctl vswitchctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", "-c", sh)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "DIR="+dir, "LINE="+line)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v", line, err)
		}
		return strings.Fields(string(b))
	}
	for line, want := range map[string]string{
		"vswitchctl network cr":  "create",
		"vswitchctl completion ": "bash fish powershell zsh",
		"vswitchctl compl":       "completion",
	} {
		got := complete(line)
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			t.Errorf("TAB after %q offers %q, want %q", line, got, want)
		}
	}
}

// Anything but a known shell is a usage error, as every command's is.
func TestCompletionBadShell(t *testing.T) {
	for _, args := range [][]string{{"completion", "tcsh"}, {"completion"}, {"completion", "bash", "zsh"}} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		if code != exitUsage || out.Len() != 0 || !strings.HasPrefix(errb.String(), "vswitchctl: ") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out.String(), errb.String())
		}
	}
}

func TestCompletionInHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	if !strings.Contains(out.String(), "completion  Print a shell completion script") {
		t.Errorf("--help does not list completion:\n%s", out.String())
	}
}
