#include "client/native/session_window.hpp"

#include "client/native/overlay_text.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace portico::client {

namespace {

[[noreturn]] void sdl_failed(const char* what) { throw std::runtime_error(std::string(what) + ": " + SDL_GetError()); }

constexpr int kOverlayScale = 3;  // output pixels per font pixel
constexpr int kOverlayPad = 6;

// Whether the renderer draws through OpenGL on a software rasteriser (Mesa's llvmpipe or softpipe:
// a machine or VM without a GPU). There every present is a textured full-window pass on the CPU;
// SDL's software renderer, blitting into X shared memory, costs a quarter of the CPU per frame
// (bench/client/cpu_per_frame.py: 4.9 against 20.9 ms at 1080p).
bool on_software_gl(SDL_Renderer* renderer) {
    SDL_RendererInfo info{};
    if (SDL_GetRendererInfo(renderer, &info) != 0 || !std::string_view(info.name).starts_with("opengl")) return false;
    // The renderer's context is current: SDL made it so when it created the renderer.
    using GetString = const unsigned char* (*)(unsigned);
    constexpr unsigned kGlRenderer = 0x1F01;  // GL_RENDERER
    auto get = reinterpret_cast<GetString>(SDL_GL_GetProcAddress("glGetString"));
    const auto* name = get ? get(kGlRenderer) : nullptr;
    if (!name) return false;
    const std::string_view gl(reinterpret_cast<const char*>(name));
    for (const char* soft : {"llvmpipe", "softpipe", "Software Rasterizer", "swrast"})
        if (gl.find(soft) != std::string_view::npos) return true;
    return false;
}

}  // namespace

SessionWindow::SessionWindow(const std::string& title, int w, int h, bool fullscreen) {
    // A window no larger than the display's usable area (the session then follows it).
    SDL_Rect usable{0, 0, w, h};
    if (SDL_GetDisplayUsableBounds(0, &usable) == 0) {
        w = std::min(w, usable.w);
        h = std::min(h, usable.h);
    }
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;
    if (fullscreen) flags |= SDL_WINDOW_FULLSCREEN_DESKTOP;
    window_ = SDL_CreateWindow(title.c_str(), SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, w, h, flags);
    if (!window_) sdl_failed("SDL_CreateWindow");
    make_renderer();
    if (fullscreen) grab_keyboard(true);
}

SessionWindow::SessionWindow(const std::string& title, const DisplayRect& span) {
    // SDL's full screen fills one display; a window over several is a borderless one at their union.
    window_ = SDL_CreateWindow(title.c_str(), span.x, span.y, span.w, span.h,
                               SDL_WINDOW_BORDERLESS | SDL_WINDOW_ALLOW_HIGHDPI);
    if (!window_) sdl_failed("SDL_CreateWindow");
    make_renderer();
    grab_keyboard(true);
}

void SessionWindow::make_renderer() {
    // No vsync: a frame is presented as soon as it is decoded, and its ack follows (the host paces).
    renderer_ = SDL_CreateRenderer(window_, -1, 0);
    // The user's SDL_RENDER_DRIVER, if set, is left alone.
    if (renderer_ && !SDL_getenv("SDL_RENDER_DRIVER") && on_software_gl(renderer_)) {
        SDL_DestroyRenderer(renderer_);
        // Without this SDL would back the software renderer's window surface with OpenGL again.
        SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
        renderer_ = SDL_CreateRenderer(window_, -1, SDL_RENDERER_SOFTWARE);
        log::info("window: OpenGL is a software rasteriser here; drawing with SDL's software renderer");
    }
    if (!renderer_) {
        SDL_DestroyWindow(window_);
        sdl_failed("SDL_CreateRenderer");
    }
    SDL_RendererInfo info{};
    if (SDL_GetRendererInfo(renderer_, &info) == 0) log::info("window: SDL renderer ", info.name);
    size_changed();
}

SessionWindow::~SessionWindow() {
    if (cursor_) SDL_FreeCursor(cursor_);
    if (texture_) SDL_DestroyTexture(texture_);
    SDL_DestroyRenderer(renderer_);
    SDL_DestroyWindow(window_);
}

void SessionWindow::set_session_size(int w, int h) {
    if (w == session_w_ && h == session_h_ && texture_) return;
    if (texture_) SDL_DestroyTexture(texture_);
    // B,G,R,X bytes (capture::Frame) are SDL's RGB888 (XRGB8888) on little-endian machines.
    texture_ = SDL_CreateTexture(renderer_, SDL_PIXELFORMAT_RGB888, SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!texture_) sdl_failed("SDL_CreateTexture");
    session_w_ = w;
    session_h_ = h;
}

void SessionWindow::upload(const capture::Frame& frame, const std::vector<capture::Rect>& dirty, bool full) {
    if (!texture_ || frame.width != session_w_ || frame.height != session_h_) return;
    if (full) {
        SDL_UpdateTexture(texture_, nullptr, frame.pixels.data(), frame.stride);
        return;
    }
    for (const auto& d : dirty) {
        if (!frame.bounds().contains(d) || d.w <= 0 || d.h <= 0) continue;
        const SDL_Rect r{d.x, d.y, d.w, d.h};
        SDL_UpdateTexture(texture_, &r, frame.at(d.x, d.y), frame.stride);
    }
}

void SessionWindow::present(const std::vector<std::string>& overlay) {
    // Black only where the picture leaves room (a full-window clear costs a pass over every pixel).
    const ViewRect v = view();
    if (!texture_ || v.x > 0 || v.y > 0 || v.x + v.w < out_w_ || v.y + v.h < out_h_) {
        SDL_SetRenderDrawColor(renderer_, 0, 0, 0, 255);
        SDL_RenderClear(renderer_);
    }
    if (texture_) {
        const SDL_Rect dst{v.x, v.y, v.w, v.h};
        SDL_RenderCopy(renderer_, texture_, nullptr, &dst);
    }
    if (!overlay.empty()) {
        int width = 0;
        for (const auto& line : overlay) width = std::max(width, text_width(line, kOverlayScale));
        const int line_h = 7 * kOverlayScale;
        const SDL_Rect box{0, 0, width + 2 * kOverlayPad, static_cast<int>(overlay.size()) * line_h + 2 * kOverlayPad};
        SDL_SetRenderDrawBlendMode(renderer_, SDL_BLENDMODE_BLEND);
        SDL_SetRenderDrawColor(renderer_, 0, 0, 0, 190);
        SDL_RenderFillRect(renderer_, &box);
        SDL_SetRenderDrawColor(renderer_, 120, 255, 120, 255);
        int y = kOverlayPad;
        for (const auto& line : overlay) {
            draw_text(renderer_, kOverlayPad, y, kOverlayScale, line);
            y += line_h;
        }
    }
    SDL_RenderPresent(renderer_);
}

void SessionWindow::set_cursor(const protocol::CursorShape& c) {
    if (c.width == 0 || c.height == 0) {
        SDL_ShowCursor(SDL_DISABLE);
        return;
    }
    if (c.rgba.size() != static_cast<std::size_t>(c.width) * c.height * 4) return;
    // R,G,B,A bytes, straight alpha: SDL's ABGR8888 on little-endian machines.
    SDL_Surface* s = SDL_CreateRGBSurfaceWithFormatFrom(const_cast<std::uint8_t*>(c.rgba.data()), c.width, c.height, 32,
                                                        c.width * 4, SDL_PIXELFORMAT_ABGR8888);
    if (!s) return;
    SDL_Cursor* cur =
        SDL_CreateColorCursor(s, std::min<int>(c.hot_x, c.width - 1), std::min<int>(c.hot_y, c.height - 1));
    SDL_FreeSurface(s);
    if (!cur) return;
    SDL_SetCursor(cur);
    SDL_ShowCursor(SDL_ENABLE);
    if (cursor_) SDL_FreeCursor(cursor_);
    cursor_ = cur;
}

SDL_Point SessionWindow::output_size() const { return {out_w_, out_h_}; }

double SessionWindow::pixel_ratio() const {
    int w = 0, h = 0;
    SDL_GetWindowSize(window_, &w, &h);
    return w > 0 && out_w_ > 0 ? static_cast<double>(out_w_) / w : 1.0;
}

std::optional<SessionPoint> SessionWindow::to_session(int x, int y) const {
    const double r = pixel_ratio();
    return session_point(view(), session_w_, session_h_, x * r, y * r);
}

void SessionWindow::cover(const DisplayRect& span) {
    SDL_SetWindowPosition(window_, span.x, span.y);
    SDL_SetWindowSize(window_, span.w, span.h);
    size_changed();
}

void SessionWindow::size_changed() {
    if (SDL_GetRendererOutputSize(renderer_, &out_w_, &out_h_) != 0) SDL_GetWindowSize(window_, &out_w_, &out_h_);
}

bool SessionWindow::fullscreen() const { return (SDL_GetWindowFlags(window_) & SDL_WINDOW_FULLSCREEN_DESKTOP) != 0; }

void SessionWindow::set_fullscreen(bool on) {
    SDL_SetWindowFullscreen(window_, on ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
    grab_keyboard(on);
}

void SessionWindow::grab_keyboard(bool on) { SDL_SetWindowKeyboardGrab(window_, on ? SDL_TRUE : SDL_FALSE); }

bool SessionWindow::keyboard_grabbed() const { return SDL_GetWindowKeyboardGrab(window_) == SDL_TRUE; }

void SessionWindow::set_title(const std::string& title) { SDL_SetWindowTitle(window_, title.c_str()); }

}  // namespace portico::client
