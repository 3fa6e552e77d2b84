package auth

import (
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of old (best effort: only root may
// change them, and only root needs to).
func keepOwner(f *os.File, old os.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
