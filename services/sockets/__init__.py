"""The course's socket-programming examples (Kurose & Ross 2.7): the "uppercase" UDP and TCP
client/server on port 12000, kept as close to the textbook's code as a reusable program allows."""
