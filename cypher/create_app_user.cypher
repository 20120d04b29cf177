// purpose: Create the application's own user on the local server (run as the admin user, on
//          the system database). Community edition has users but no roles; a user of its own
//          keeps failed logins to the admin account from locking the application out.
// mode: write
// params: user STRING, password STRING
// returns: nothing
CREATE USER $user IF NOT EXISTS SET PASSWORD $password CHANGE NOT REQUIRED
