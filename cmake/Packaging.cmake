# Debian packages (CPack DEB, one package per component): `cpack -G DEB` in a configured and built
# tree, or deploy/build-packages.sh (a Release build of its own and the .debs in one directory).
#
#   portico-broker  the broker, the web client, the admin console; portico-broker.service
#   portico-host    portico-host and portico-session-helper; portico-host.service; the guest
#                   image scripts (VM desktops, optional: QEMU and the image tools are Recommends
#                   and Suggests)
#   portico-client  the native client, its .desktop file and the launch files' MIME type (the
#                   portal's "Open in app" opens them with it)
#   portico-pack    the packager and the package runtime (which a host needs to start packages)
#
# Each part's CMakeLists.txt installs its own files into its component; this file adds what
# belongs to no part (units, /etc/portico, the guide) and describes the packages. Installed paths
# are the packages' (/usr, /etc, /lib/systemd/system, whatever CMAKE_INSTALL_PREFIX says), and the
# binaries' compiled-in defaults (the broker's web root) come from CMAKE_INSTALL_PREFIX: configure
# with -DCMAKE_INSTALL_PREFIX=/usr for packages, as deploy/build-packages.sh does.

set(PORTICO_DEPLOY ${PROJECT_SOURCE_DIR}/deploy)

# Units and configuration (conffiles: dpkg keeps an admin's edits across upgrades).
install(FILES ${PORTICO_DEPLOY}/systemd/portico-broker.service DESTINATION /lib/systemd/system COMPONENT broker)
install(FILES ${PORTICO_DEPLOY}/etc/broker.conf DESTINATION /etc/portico COMPONENT broker)
install(FILES ${PORTICO_DEPLOY}/systemd/portico-host.service DESTINATION /lib/systemd/system COMPONENT host)
install(FILES ${PORTICO_DEPLOY}/etc/host.conf DESTINATION /etc/portico COMPONENT host)
foreach(component broker host)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/admin.md DESTINATION share/doc/portico-${component} COMPONENT ${component})
endforeach()
# VM desktops' guest images, built on the host from Debian packages (deploy/guest/README.md).
install(PROGRAMS ${PORTICO_DEPLOY}/guest/build-desktop-image.sh ${PORTICO_DEPLOY}/guest/build-console-image.sh
        DESTINATION share/portico/guest COMPONENT host)
# pvh-kernel.sh is sourced by the two scripts, not run.
install(FILES ${PORTICO_DEPLOY}/guest/pvh-kernel.sh ${PORTICO_DEPLOY}/guest/README.md
        DESTINATION share/portico/guest COMPONENT host)

# The desktop opens the portal's launch files (application/x-portico-launch, *.portico) with the
# client; Debian's desktop-file-utils and shared-mime-info triggers update their caches.
install(FILES ${PORTICO_DEPLOY}/client/portico-client.desktop DESTINATION share/applications COMPONENT client)
install(FILES ${PORTICO_DEPLOY}/client/portico-client-mime.xml DESTINATION share/mime/packages
        RENAME portico-client.xml COMPONENT client)

# Who the packages name as their maintainer (control field, changelogs): your organisation when you
# build them for your machines, e.g. -DPORTICO_MAINTAINER="IT Services <it@example.org>".
set(PORTICO_MAINTAINER "Portico maintainers <portico@localhost>" CACHE STRING
    "the Maintainer of the Debian packages: \"Name <email>\"")
set(PORTICO_DEB_RELEASE 1)

# Each package's Debian changelog (/usr/share/doc/PKG/changelog.Debian.gz, as Debian policy 12.7
# and lintian want it for a version with a Debian revision): one entry for the version built,
# dated by SOURCE_DATE_EPOCH when set (reproducible builds), else now; gzip -n keeps the file's
# name and time out of it.
string(TIMESTAMP PORTICO_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
foreach(component broker host client pack)
  set(pkg portico-${component})
  set(changelog ${CMAKE_BINARY_DIR}/packaging/${pkg}/changelog.Debian)
  file(WRITE ${changelog}
       "${pkg} (${PROJECT_VERSION}-${PORTICO_DEB_RELEASE}) unstable; urgency=medium\n\n"
       "  * Portico ${PROJECT_VERSION}, built from its source tree (cmake/Packaging.cmake).\n\n"
       " -- ${PORTICO_MAINTAINER}  ${PORTICO_CHANGELOG_DATE}\n")
  execute_process(COMMAND gzip -9nf ${changelog} RESULT_VARIABLE gzip_failed)
  if(gzip_failed)
    message(FATAL_ERROR "gzip ${changelog} failed")
  endif()
  install(FILES ${changelog}.gz DESTINATION share/doc/${pkg} COMPONENT ${component})
endforeach()

# Man pages, made from each program's --help by help2man (Debian's help2man; a fraction of a
# second each). Without help2man the packages have none, and the packages test says so.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_see_also ${CMAKE_BINARY_DIR}/packaging/man-see-also.h2m)
  # CONFIGURE: rewritten only when it changes, so a re-configure does not remake the pages.
  file(CONFIGURE OUTPUT ${man_see_also} CONTENT
       "[SEE ALSO]\nThe admin guide, /usr/share/doc/portico-broker/admin.md (also in portico-host):\ninstalling, configuring, certificates, backup and restore.\n")
  set(man_pages)
  foreach(entry "portico-broker|broker|Portico connection broker"
                "portico-host|host|Portico session host"
                "portico-client|client|Portico native client"
                "portico-pack|pack|Portico application packager")
    string(REPLACE "|" ";" entry "${entry}")
    list(GET entry 0 program)
    list(GET entry 1 component)
    list(GET entry 2 summary)
    set(page ${CMAKE_BINARY_DIR}/packaging/man/${program}.1.gz)
    add_custom_command(
      OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging/man
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 --version-string=${PROJECT_VERSION}
              --name=${summary} --include=${man_see_also} --output=${CMAKE_BINARY_DIR}/packaging/man/${program}.1
              $<TARGET_FILE:${program}>
      COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/packaging/man/${program}.1
      DEPENDS ${program} ${man_see_also}
      COMMENT "help2man ${program}"
      VERBATIM)
    list(APPEND man_pages ${page})
    install(FILES ${page} DESTINATION share/man/man1 COMPONENT ${component})
  endforeach()
  add_custom_target(man_pages ALL DEPENDS ${man_pages})
else()
  message(WARNING "help2man not found (Debian help2man; deploy/install-deps.sh): the packages will have no man pages")
  add_custom_target(man_pages)  # deploy/build-packages.sh builds it either way
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME portico)
set(CPACK_PACKAGE_VENDOR "Portico")
set(CPACK_PACKAGE_CONTACT "${PORTICO_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PORTICO_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# DESTDIR installs, so the absolute destinations above (/etc, /lib/systemd) land in the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL broker host client pack)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${PORTICO_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The shared libraries each binary links, as dpkg-shlibdeps finds them (dpkg-dev).
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found (Debian dpkg-dev): packages will depend on no shared libraries")
endif()

set(CPACK_DEBIAN_BROKER_PACKAGE_NAME portico-broker)
# procps: /bin/kill, which the unit's ExecReload= sends SIGHUP with (systemctl reload).
set(CPACK_DEBIAN_BROKER_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.54), procps")
set(CPACK_DEBIAN_BROKER_DESCRIPTION "Portico connection broker
The broker of Portico, an application and desktop delivery stack: the HTTPS
portal and REST API, the admin console, users and entitlements in its
database, the control channel of session hosts and the display gateway to
them. The web client it serves needs no plug-in. Runs as
portico-broker.service.")

set(CPACK_DEBIAN_HOST_PACKAGE_NAME portico-host)
# What the host starts at run time: Xvfb for every session (with its keymap compiler), useradd for
# the portal users' accounts.
set(CPACK_DEBIAN_HOST_PACKAGE_DEPENDS "xvfb, x11-xkb-utils, xkb-data, passwd, adduser, init-system-helpers (>= 1.54)")
# The X core fonts apps ask for (Debian policy: fonts are recommended, never required; Xvfb
# itself has its built-in 'fixed'), the demo Terminal app and its font, VM desktops (QEMU,
# qemu-img for linked clones), packaged apps (portico-pack-runtime).
set(CPACK_DEBIAN_HOST_PACKAGE_RECOMMENDS
    "xfonts-base, xterm, fonts-dejavu-core, qemu-system-x86, qemu-utils, portico-pack")
# What /usr/share/portico/guest/build-desktop-image.sh builds a guest image with.
set(CPACK_DEBIAN_HOST_PACKAGE_SUGGESTS "mmdebstrap, genext2fs, e2fsprogs, xz-utils")
set(CPACK_DEBIAN_HOST_DESCRIPTION "Portico session host
Runs published applications on private X displays (Xvfb) and desktops in QEMU
virtual machines, captures and encodes them (H.264, JPEG tiles) and streams
them to Portico clients through the broker. portico-session-helper, the only
part that stays root, starts each session as its user's own Unix account.
Runs as portico-host.service.")

set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME portico-client)
set(CPACK_DEBIAN_CLIENT_DESCRIPTION "Portico native client
Logs in to a Portico broker, launches an application or desktop and shows it
in a window (SDL2): keyboard by physical key, clipboard, resize, full screen,
reconnect; H.264 through the GPU (VA-API) when the machine has a driver for it.
With --headless it types, saves PNG screenshots and prints statistics.")
# The login window's font (its path is fixed: client/native/login_dialog.hpp); SDL2_ttf itself
# comes with dpkg-shlibdeps.
set(CPACK_DEBIAN_CLIENT_PACKAGE_DEPENDS "fonts-dejavu-core")
# The VA-API drivers: without one the client decodes in software.
set(CPACK_DEBIAN_CLIENT_PACKAGE_RECOMMENDS "va-driver-all")

set(CPACK_DEBIAN_PACK_PACKAGE_NAME portico-pack)
set(CPACK_DEBIAN_PACK_DESCRIPTION "Portico application packager
portico-pack makes one signed, sandboxed file of an application that runs on
any Linux without being installed. portico-pack-runtime, at the front of
every package, is what a session host starts them with.")

# Maintainer scripts and conffiles of the two services.
foreach(component broker host)
  string(TOUPPER ${component} upper)
  set(conffiles ${CMAKE_BINARY_DIR}/packaging/portico-${component}/conffiles)
  file(WRITE ${conffiles} "/etc/portico/${component}.conf\n")
  set(scripts ${PORTICO_DEPLOY}/debian/portico-${component})
  set(CPACK_DEBIAN_${upper}_PACKAGE_CONTROL_EXTRA
      "${conffiles};${scripts}/postinst;${scripts}/prerm;${scripts}/postrm")
endforeach()

include(CPack)
