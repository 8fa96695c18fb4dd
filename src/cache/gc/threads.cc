#include "gc/threads.h"

#include <system_error>
#include <thread>
#include <vector>

namespace bcl {

void run_workers(unsigned n, const std::function<void(unsigned)>& work) {
    std::vector<unsigned> unstarted;
    {
        std::vector<std::jthread> threads;
        threads.reserve(n);
        for (unsigned i = 1; i < n; ++i) {
            try {
                threads.emplace_back(work, i);
            } catch (const std::system_error&) {
                unstarted.push_back(i);  // out of threads: done here instead
            }
        }
        if (n > 0) work(0);
        for (const unsigned i : unstarted) work(i);
    }  // joined here
}

}  // namespace bcl
