// The header used from C++ (extern "C", no C-only constructs).
#include <safefs.h>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  std::string path = argc > 1 ? argv[1] : "consumer-cxx-out.txt";
  safefs_writer *w = nullptr;
  if (safefs_writer_open(&w, path.c_str(), SAFEFS_NOSYNC) != SAFEFS_OK) return 1;
  if (safefs_writer_write(w, "c++", 3) != SAFEFS_OK) { safefs_writer_abort(w); return 1; }
  if (safefs_writer_commit(w) != SAFEFS_OK) return 1;
  std::printf("consumer_cxx ok\n");
  return 0;
}
