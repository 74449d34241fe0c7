package main

import (
	"fmt"
	"log/slog"

	"vswitch/daemon"
	"vswitch/internal/sdnotify"
)

// reload is SIGHUP: the --config file read again and applied, as
// `vswitchctl reload` does, with each change or the refusal in the log.
// systemd hears RELOADING=1 first and READY=1 when it is over, refused or
// not (the running config stays either way), so `systemctl reload` waits
// for it under Type=notify-reload and ExecReload alike.
func reload(log *slog.Logger, d *daemon.Daemon) {
	if _, err := sdnotify.Reloading("reloading the config file"); err != nil {
		log.Warn("cannot tell systemd", "err", err)
	}
	status := ""
	r, err := d.Reload()
	if err != nil {
		log.Error("reload refused; the running config stays", "signal", "SIGHUP", "err", err)
		status = "reload refused: " + err.Error()
	} else {
		// The changes are logged one by one as they are applied.
		log.Info("config reloaded", "signal", "SIGHUP", "file", r.File, "changes", len(r.Changes))
		status = fmt.Sprintf("config %s reloaded: %d change(s)", r.File, len(r.Changes))
	}
	if _, err := sdnotify.Ready(status); err != nil {
		log.Warn("cannot tell systemd", "err", err)
	}
}
