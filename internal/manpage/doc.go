// Package manpage writes manual pages in roff (man(7) macros) from what a
// command already knows about itself: its synopsis, its description and its
// flags with their usage strings. vswitchctl's pages come from its cobra
// tree and vswitchd's from its flag set, so a page says what --help says and
// cannot drift from the binary it ships with.
package manpage
