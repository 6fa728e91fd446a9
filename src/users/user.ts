export interface User {
  id: string;
  username: string;
  created_at: string;
}
