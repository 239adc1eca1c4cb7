"""What the SMTP and POP3 servers share: the maildrop (one Maildir per user) and the accounts file.

    maildrop.py   Maildir delivery with fsync, and the mailbox a POP3 session reads (locked while held)
"""
