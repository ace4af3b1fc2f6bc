#ifndef RINGMASTER_CLIBSSH_SHIM_H
#define RINGMASTER_CLIBSSH_SHIM_H

#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <sys/types.h>
#include <stdbool.h>

/* setns(2) is a GNU extension Swift's Glibc module does not export; SSH sessions that must
   connect from inside a network namespace call it on their own thread. */
extern int setns(int fd, int nstype);
#define RINGMASTER_CLONE_NEWNET 0x40000000

/* libssh's ssh_options_set takes `const void *`; these keep the Swift side free of casts. */
static inline int rm_ssh_set_string(ssh_session s, enum ssh_options_e o, const char *v) {
    return ssh_options_set(s, o, v);
}
static inline int rm_ssh_set_int(ssh_session s, enum ssh_options_e o, int v) {
    return ssh_options_set(s, o, &v);
}
static inline int rm_ssh_set_long(ssh_session s, enum ssh_options_e o, long v) {
    return ssh_options_set(s, o, &v);
}
static inline int rm_ssh_set_unsigned(ssh_session s, enum ssh_options_e o, unsigned int v) {
    return ssh_options_set(s, o, &v);
}

static inline int rm_ssh_set_bool(ssh_session s, enum ssh_options_e o, bool v) {
    return ssh_options_set(s, o, &v);
}

#endif
