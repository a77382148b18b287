# install.cmake -- `cmake --install` layout and the Debian package (CPack).
#
# Included from the top-level CMakeLists.txt after the targets exist.
# Layout (GNUInstallDirs, prefix /usr in the .deb, /usr/local by default):
#   sbin/burstqd                         the daemon (sbin: a system service an
#                                        administrator starts, not a user tool;
#                                        burstqd(8) is in section 8 likewise)
#   bin/burstq                           the client (when the target exists)
#   share/man/man8/burstqd.8, man1/burstq.1
#   lib/systemd/system/burstqd.service   the unit (BQ_SYSTEMD_UNIT_DIR;
#                                        /usr/lib/systemd/system in the .deb)
#   share/doc/burstq/                    README, docs/*.md, the nc client
#
#   cmake --install build --prefix /usr/local
#   cpack --config build/CPackConfig.cmake -B build/pkg     (or: make package)
include(GNUInstallDirs)

install(TARGETS burstqd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
# The client is built by client/ (target burstq).  Decide at the end of the
# top-level CMakeLists.txt, so the order of include() and add_subdirectory()
# there does not matter.
function(bq_install_client)
  if(TARGET burstq)
    install(TARGETS burstq RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  else()
    message(STATUS "burstq client target not found: not installed")
  endif()
endfunction()
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL bq_install_client)
else()
  bq_install_client()
endif()

# Man pages, gzipped as Debian policy wants (-n: no name or time stamp, so
# the package is reproducible).
find_program(BQ_GZIP gzip REQUIRED)
set(bq_man_gz "")
foreach(page burstqd.8 burstq.1)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${BQ_GZIP} -n -9 -c ${CMAKE_SOURCE_DIR}/docs/man/${page}
            > ${CMAKE_BINARY_DIR}/man/${page}.gz
    DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/${page}
    COMMENT "gzip ${page}")
  list(APPEND bq_man_gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(bq_man ALL DEPENDS ${bq_man_gz})
install(FILES ${CMAKE_BINARY_DIR}/man/burstqd.8.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_BINARY_DIR}/man/burstq.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# Relative to the prefix: /usr/lib/systemd/system in the .deb (systemd's
# vendor unit directory; the same directory as /lib/systemd/system on
# bookworm's merged /usr), /usr/local/lib/systemd/system for a /usr/local
# install, which systemd reads as well.
set(BQ_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where burstqd.service is installed (relative to the prefix, or absolute)")
# The unit names the daemon and the docs by path: written at install time
# with the prefix of that install (/usr for the .deb, so unchanged there;
# /usr/local/sbin/burstqd for a /usr/local install).
install(CODE "
  set(_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(_dir \"${BQ_SYSTEMD_UNIT_DIR}\")
  if(NOT IS_ABSOLUTE \"\${_dir}\")
    set(_dir \"\${_prefix}/\${_dir}\")
  endif()
  file(READ \"${CMAKE_CURRENT_SOURCE_DIR}/docs/burstqd.service\" _unit)
  string(REPLACE \"/usr/sbin/burstqd\"
         \"\${_prefix}/${CMAKE_INSTALL_SBINDIR}/burstqd\" _unit \"\${_unit}\")
  string(REPLACE \"file:///usr/share/doc/burstq/\"
         \"file://\${_prefix}/${CMAKE_INSTALL_DOCDIR}/\" _unit \"\${_unit}\")
  message(STATUS \"Installing: \$ENV{DESTDIR}\${_dir}/burstqd.service\")
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${_dir}\")
  file(WRITE \"\$ENV{DESTDIR}\${_dir}/burstqd.service\" \"\${_unit}\")
")

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")
install(PROGRAMS client/netcat/nc-send.sh
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# docs/examples/ (e.g. the stunnel configuration operations.md links to).
install(DIRECTORY docs/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- Debian package --------------------------------------------------------
# Runtime dependencies come from dpkg-shlibdeps on the installed binaries
# (libuv1, libsqlite3-0, libc6, and libsystemd0 when built with it), so they
# are right for whatever the build linked.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "burstq")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "burstq maintainers <burstq@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "message-ingest daemon: newline messages over TCP into SQLite")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "burstqd takes newline-framed messages over plain TCP, holds them in a
 bounded queue and writes them into a SQLite database with group commit,
 acknowledging each connection once its messages are on disk.  SIGTERM
 drains everything received.  Includes the burstq client, man pages and a
 hardened systemd unit (not enabled by default).")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "sqlite3, netcat-openbsd")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
# Maintainer scripts: daemon-reload after install/removal, stop before
# removal; the service is never enabled or started by the package.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_LIST_DIR}/debian/postinst;${CMAKE_CURRENT_LIST_DIR}/debian/prerm;${CMAKE_CURRENT_LIST_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
