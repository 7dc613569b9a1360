/* A tiny NSS hosts module for the tests: "netprobetest" answers one name,
 * only-nss.test, with 192.0.2.77 (AF_INET only).  netprobe does not model
 * it, which is the point: --explain must say so instead of guessing.
 * Built by tests/test_explain_oracle.py and loaded through LD_LIBRARY_PATH. */
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum nss_status
_nss_netprobetest_gethostbyname2_r (const char *name, int af, struct hostent *result,
                                    char *buffer, size_t buflen, int *errnop,
                                    int *h_errnop)
{
  static const unsigned char address[4] = { 192, 0, 2, 77 };
  size_t name_len = strlen (name) + 1;
  size_t need = sizeof (char *) * 3 + sizeof address + name_len;

  if (strcasecmp (name, "only-nss.test") != 0 || af != AF_INET)
    {
      *errnop = ENOENT;
      *h_errnop = HOST_NOT_FOUND;
      return NSS_STATUS_NOTFOUND;
    }
  if (buflen < need)
    {
      *errnop = ERANGE;
      *h_errnop = NETDB_INTERNAL;
      return NSS_STATUS_TRYAGAIN;
    }
  char **list = (char **) buffer;  /* addr_list[0], addr_list[1]=NULL, aliases[0]=NULL */
  char *data = buffer + sizeof (char *) * 3;
  memcpy (data, address, sizeof address);
  memcpy (data + sizeof address, name, name_len);
  list[0] = data;
  list[1] = NULL;
  list[2] = NULL;
  result->h_name = data + sizeof address;
  result->h_aliases = &list[2];
  result->h_addrtype = AF_INET;
  result->h_length = sizeof address;
  result->h_addr_list = list;
  return NSS_STATUS_SUCCESS;
}
