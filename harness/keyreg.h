/* keyreg.h - the key registry (README "Key registration"): an owner commits
 * to a key before any dispute by writing its SHA-256 and a time into a
 * registry file that the owner keeps or publishes (wmbench register);
 * `wmbench verify --registry FILE --before TIME` then accepts only keys
 * registered before TIME. A forger who makes a key after the model was
 * published (forge_uchida, forge_trigger) cannot register it earlier. */
#ifndef WM_KEYREG_H
#define WM_KEYREG_H

#include <stddef.h>

#define KEYREG_HEADER "# wmbench key registry v1: sha256 unix_time iso_time key_file"

/* Parses a time: seconds since 1970 or UTC ISO 8601 "YYYY-MM-DDTHH:MM:SSZ".
 * 0, or -1 with a message naming what (e.g. "--before"). */
int keyreg_parse_time(const char *s, const char *what, long long *t, char *err, size_t errlen);
/* Appends the key file's SHA-256 with time `when` to the registry (created
 * with its header if absent; the line is written with one write and fsync'd).
 * A key registered already keeps its first line (-1 with a message). */
int keyreg_add(const char *registry, const char *keyfile, long long when, char *err, size_t errlen);
/* When the key file was first registered: 1 with *when, 0 if not in the
 * registry, -1 with a message (unreadable or malformed registry: file:line). */
int keyreg_lookup(const char *registry, const char *keyfile, long long *when, char hex[65],
		  char *err, size_t errlen);

#endif
