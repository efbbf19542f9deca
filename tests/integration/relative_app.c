/* A game-like test app for app sessions (test_native_window.py app_pointer): it takes the pointer
 * in SDL's relative mouse mode (hidden cursor, pointer grabbed, raw motion) and writes what it
 * received to the file named by its argument: "relative|absolute <sum dx> <sum dy> <left clicks>".
 * A right click gives the pointer back (relative mode off), as a game's menu would. */
#include <SDL2/SDL.h>
#include <stdio.h>

static void report(const char* path, int relative, long dx, long dy, int clicks) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE* f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%s %ld %ld %d\n", relative ? "relative" : "absolute", dx, dy, clicks);
    fclose(f);
    rename(tmp, path); /* a reader sees the whole line or the previous one */
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REPORT-FILE\n", argv[0]);
        return 2;
    }
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "SDL_Init: %s\n", SDL_GetError());
        return 1;
    }
    SDL_Window* w = SDL_CreateWindow("Relative pointer test", 0, 0, 640, 480, SDL_WINDOW_RESIZABLE);
    if (!w) {
        fprintf(stderr, "SDL_CreateWindow: %s\n", SDL_GetError());
        return 1;
    }
    int relative = 0, given_back = 0, clicks = 0;
    long dx = 0, dy = 0;
    report(argv[1], relative, dx, dy, clicks);
    for (;;) {
        SDL_Event e;
        if (!SDL_WaitEventTimeout(&e, 100)) {
            /* Relative mode once the window has the keyboard focus (SDL grabs only then). */
            if (!relative && !given_back && (SDL_GetWindowFlags(w) & SDL_WINDOW_INPUT_FOCUS) &&
                SDL_SetRelativeMouseMode(SDL_TRUE) == 0) {
                relative = 1;
                report(argv[1], relative, dx, dy, clicks);
            }
            continue;
        }
        if (e.type == SDL_QUIT) break;
        if (e.type == SDL_MOUSEMOTION && relative) {
            dx += e.motion.xrel;
            dy += e.motion.yrel;
        } else if (e.type == SDL_MOUSEBUTTONDOWN && e.button.button == SDL_BUTTON_LEFT) {
            ++clicks;
        } else if (e.type == SDL_MOUSEBUTTONDOWN && e.button.button == SDL_BUTTON_RIGHT && relative) {
            SDL_SetRelativeMouseMode(SDL_FALSE);
            relative = 0;
            given_back = 1; /* stays absolute from now on */
        } else {
            continue;
        }
        report(argv[1], relative, dx, dy, clicks);
    }
    SDL_DestroyWindow(w);
    SDL_Quit();
    return 0;
}
