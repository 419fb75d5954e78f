/* Fuzz target: known_hosts parsing and host-key matching. */
#include "git/git_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* "ssh-ed25519" key blob prefix + 32 bytes, as libssh2 reports it. */
	static const unsigned char key[] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
		                             0, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
	int revoked = 0, r;
	r = devsys__git_known_hosts_match((const char *)data, size, "127.0.0.1", 2222, key, sizeof(key), &revoked);
	if (r < -1 || r > 1 || (revoked && r != -1))
		__builtin_trap();
	r = devsys__git_known_hosts_match((const char *)data, size, "github.com", 22, key, sizeof(key), &revoked);
	if (r < -1 || r > 1)
		__builtin_trap();
	return 0;
}
