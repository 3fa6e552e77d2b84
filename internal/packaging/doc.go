// Package packaging holds the Debian package definition (deb/: nfpm
// config, systemd unit, default /etc/espprov files, maintainer scripts) and
// its test: build the .deb with `make package`, install it with dpkg -i,
// start the installed espprovd from the installed config as the espprov
// user (without systemd) and provision a simulated device through it with
// the installed espprov CLI.
package packaging
