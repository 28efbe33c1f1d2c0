package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// completionWords is what a shell completes: the commands, and each
// command's flags, read from the same table run uses.
type completionWords struct {
	name, summary string
	flags         []*flag.Flag
}

func completionTable() []completionWords {
	var out []completionWords
	for _, c := range commands {
		debug := false
		fs, _ := c.flagSet(&debug)
		w := completionWords{name: c.name, summary: c.summary}
		fs.VisitAll(func(f *flag.Flag) { w.flags = append(w.flags, f) })
		out = append(out, w)
	}
	return append(out,
		completionWords{name: "help", summary: "a command's flags and examples"},
		completionWords{name: "completion", summary: "print a bash, zsh or fish completion script"})
}

var shells = map[string]func(io.Writer, []completionWords){"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, `replaudit completion: print a completion script for bash, zsh or fish

Examples:
  source <(replaudit completion bash)                      # in ~/.bashrc
  source <(replaudit completion zsh)                       # in ~/.zshrc, after compinit
  replaudit completion fish > ~/.config/fish/completions/replaudit.fish
`)
		return exitOK
	}
	if len(args) != 1 || shells[args[0]] == nil {
		fmt.Fprintln(stderr, "replaudit completion: want one shell: bash, zsh or fish")
		return exitUsage
	}
	shells[args[0]](stdout, completionTable())
	return exitOK
}

func commandNames(table []completionWords) string {
	var names []string
	for _, c := range table {
		names = append(names, c.name)
	}
	return strings.Join(names, " ")
}

func flagNames(c completionWords) string {
	var names []string
	for _, f := range c.flags {
		names = append(names, "--"+f.Name)
	}
	return strings.Join(names, " ")
}

func bashCompletion(w io.Writer, table []completionWords) {
	fmt.Fprintf(w, `# bash completion for replaudit: source <(replaudit completion bash)
_replaudit() {
  local cur=${COMP_WORDS[COMP_CWORD]} i=1
  while [[ ${COMP_WORDS[i]} == -* && $i -lt $COMP_CWORD ]]; do i=$((i+1)); done
  if [[ $COMP_CWORD -eq $i ]]; then
    COMPREPLY=($(compgen -W "%s --debug --version --help" -- "$cur"))
    return
  fi
  case ${COMP_WORDS[i]} in
`, commandNames(table))
	for _, c := range table {
		words := flagNames(c) + " --help"
		switch c.name {
		case "help":
			words = commandNames(table[:len(table)-2])
		case "completion":
			words = "bash zsh fish"
		}
		fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.name, words)
	}
	fmt.Fprint(w, `  esac
}
complete -o default -F _replaudit replaudit
`)
}

func zshCompletion(w io.Writer, table []completionWords) {
	fmt.Fprint(w, `#compdef replaudit
# zsh completion for replaudit: source <(replaudit completion zsh), after compinit
_replaudit() {
  local -a cmds
  cmds=(
`)
	for _, c := range table {
		fmt.Fprintf(w, "    %s\n", zshQuote(c.name+":"+c.summary))
	}
	fmt.Fprint(w, `  )
  local i=2
  while [[ $words[i] == -* && i -lt CURRENT ]]; do (( i++ )); done
  if (( CURRENT == i )); then
    _describe command cmds
    compadd -- --debug --version --help
    return
  fi
  case $words[i] in
`)
	for _, c := range table {
		switch c.name {
		case "help":
			fmt.Fprintf(w, "    help) compadd -- %s ;;\n", commandNames(table[:len(table)-2]))
		case "completion":
			fmt.Fprint(w, "    completion) compadd -- bash zsh fish ;;\n")
		default:
			fmt.Fprintf(w, "    %s) _arguments -s", c.name)
			for _, f := range c.flags {
				_, text := flag.UnquoteUsage(f)
				fmt.Fprintf(w, " \\\n        %s", zshQuote(fmt.Sprintf("--%s[%s]", f.Name, zshBracket(text))+map[bool]string{false: ":value:_default"}[isBool(f)]))
			}
			fmt.Fprint(w, " ;;\n")
		}
	}
	fmt.Fprint(w, `  esac
}
compdef _replaudit replaudit
`)
}

func fishCompletion(w io.Writer, table []completionWords) {
	fmt.Fprintln(w, "# fish completion for replaudit: replaudit completion fish > ~/.config/fish/completions/replaudit.fish")
	fmt.Fprintln(w, "complete -c replaudit -f")
	fmt.Fprintln(w, "complete -c replaudit -n __fish_use_subcommand -l debug -d 'log the AWS SDK requests and retries'")
	fmt.Fprintln(w, "complete -c replaudit -n __fish_use_subcommand -l version -d 'print the version'")
	for _, c := range table {
		fmt.Fprintf(w, "complete -c replaudit -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range table {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		switch c.name {
		case "help":
			fmt.Fprintf(w, "complete -c replaudit -n %s -a %s\n", cond, fishQuote(commandNames(table[:len(table)-2])))
			continue
		case "completion":
			fmt.Fprintf(w, "complete -c replaudit -n %s -a 'bash zsh fish'\n", cond)
			continue
		}
		for _, f := range c.flags {
			_, text := flag.UnquoteUsage(f)
			arg := " -r -F"
			if isBool(f) {
				arg = ""
			}
			fmt.Fprintf(w, "complete -c replaudit -n %s -l %s%s -d %s\n", cond, f.Name, arg, fishQuote(text))
		}
	}
}

// zshQuote and fishQuote make a word of s in single quotes.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// zshBracket escapes what would end or break an _arguments description.
func zshBracket(s string) string {
	return strings.NewReplacer(`[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
}
