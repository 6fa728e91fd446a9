export interface Room {
  id: string;
  name: string;
  created_at: string;
}
