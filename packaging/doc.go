// Package packaging holds no Go code of vswitch: it is the Debian package
// and the systemd unit (vswitchd.service, mkdeb.sh, debian/), and its test
// builds the package as `make deb` does and checks what an operator would:
// the files it installs, its control fields, that systemd accepts the unit
// and vswitchd the default config. See docs/operators.md.
package packaging
