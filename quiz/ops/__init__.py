"""Operating the site: backups that restore, and the re-application of deletions after one."""
